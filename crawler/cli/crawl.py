"""`expowatch crawl`: crawl sources now, in this process."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from crawler.cli.app import EXIT_USAGE, DbOption, SourcesFileOption, app, fail, open_store
from crawler.cli.events import EventsFileOption, load_events
from crawler.cli.settings_flag import parse_settings
from crawler.cli.sources import check_source_events, chosen_sources, load_registry


# Without --verbose only the run summaries speak: each names every failed URL and reason
# once, where Scrapy's retry, robots.txt and spider loggers would each repeat it.
QUIET_LOG_LEVEL = "CRITICAL"


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
        errors = [e for e in s.errors if s.status != "failed" or f"{e['url']}: {e['reason']}" not in (s.message or "")]
        for error in errors[:5]:  # an error the failure line already names is not listed again
            print(f"  {error['url']}: {error['reason']}", file=stream)
        if len(errors) > 5:
            print(f"  ... and {len(errors) - 5} more (expowatch runs --source {s.source})", file=stream)
    return ok


@app.command()
def crawl(
    sources: Annotated[list[str] | None, typer.Argument(help="Source names (default: every enabled source).")] = None,
    sources_file: SourcesFileOption = None,
    events_file: EventsFileOption = None,
    db: DbOption = None,
    backfill: Annotated[bool, typer.Option(help="Page through list pages to the end, not just until known articles.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Scrapy's log (INFO); without it only each run's summary and errors.")] = False,
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

    overrides = parse_settings(setting or [])  # a wrong --set is a wrong command line: checked first
    registry = load_registry(sources_file)
    names = chosen_sources(registry, sources, doing="crawl")
    taxonomy = load_events(events_file)  # a bad events file fails here, before anything is crawled
    check_source_events(registry, taxonomy, sources_file)
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
                              log_level="INFO" if verbose else QUIET_LOG_LEVEL)
    summaries = run_crawl(names, settings)
    if not print_summaries(summaries, quiet=quiet):
        raise typer.Exit(1)
