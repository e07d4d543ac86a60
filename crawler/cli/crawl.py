"""`expowatch crawl`: crawl sources now, in this process."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from crawler.cli.app import EXIT_USAGE, DbOption, SourcesFileOption, app, fail, open_store
from crawler.cli.events import EventsFileOption, load_events
from crawler.cli.sources import chosen_sources, load_registry


def print_summaries(summaries, *, quiet: bool = False) -> bool:
    """One line per source run (plus its first errors); True when every run succeeded.

    quiet: print only the failed runs.
    """
    stream = sys.stderr
    ok = True
    for s in summaries:
        if quiet and s.status != "failed":
            continue
        skipped = ", ".join(f"{n} {r}" for r, n in sorted(s.skip_reasons.items())) or "none"
        print(f"{s.source}: {s.status}: {s.articles_new} new, {s.articles_duplicate} duplicate, "
              f"{s.articles_skipped} skipped ({skipped}), {len(s.errors)} errors, {s.pages_fetched} pages fetched",
              file=stream)
        if s.status == "failed":
            ok = False
            print(f"expowatch: error: source {s.source}: {s.message}", file=sys.stderr)
        for error in s.errors[:5]:
            print(f"  {error['url']}: {error['reason']}", file=stream)
        if len(s.errors) > 5:
            print(f"  ... and {len(s.errors) - 5} more (expowatch runs --source {s.source})", file=stream)
    return ok


def parse_settings(pairs: list[str]) -> dict[str, str]:
    """NAME=VALUE pairs from --set, or one clear error."""
    overrides: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not name.strip().isupper():
            fail(f"--set {pair!r}: expected NAME=VALUE with an upper-case Scrapy setting name")
        overrides[name.strip()] = value.strip()
    return overrides


@app.command()
def crawl(
    sources: Annotated[list[str] | None, typer.Argument(help="Source names (default: every enabled source).")] = None,
    sources_file: SourcesFileOption = None,
    events_file: EventsFileOption = None,
    db: DbOption = None,
    backfill: Annotated[bool, typer.Option(help="Page through list pages to the end, not just until known articles.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Scrapy's log (INFO).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only failures.")] = False,
    setting: Annotated[list[str] | None, typer.Option(
        "--set", metavar="NAME=VALUE",
        help="Override a Scrapy setting for this crawl, e.g. --set DOWNLOAD_TIMEOUT=10 (repeatable).")] = None,
) -> None:
    """Crawl sources now: discover new articles, extract, deduplicate and store them.

    Exits 0 when every source was crawled, 1 when any source failed (unreachable,
    or every article failed), naming the source, URL and reason.
    """
    from crawler.crawl import crawl_settings, run_crawl

    registry = load_registry(sources_file)
    names = chosen_sources(registry, sources, doing="crawl")
    load_events(events_file)  # a bad events file fails here, before anything is crawled
    overrides = parse_settings(setting or [])
    try:
        from crawler.safety import AllowList

        AllowList.from_settings(None)  # EXPOWATCH_ALLOWED_PRIVATE_HOSTS, checked before any crawl starts
    except ValueError as exc:
        fail(str(exc))
    try:
        crawl_settings(db_url="", overrides=overrides)  # refused settings fail before the store is touched
    except ValueError as exc:
        fail(f"--set: {exc}", EXIT_USAGE)
    url = open_store(db, writable=True)
    settings = crawl_settings(db_url=url, sources_file=sources_file, events_file=events_file, backfill=backfill,
                              overrides=overrides,
                              log_level="INFO" if verbose else "WARNING")
    summaries = run_crawl(names, settings)
    if not print_summaries(summaries, quiet=quiet):
        raise typer.Exit(1)
