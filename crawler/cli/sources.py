"""`expowatch sources ...`: the source registry and dry runs."""

from __future__ import annotations

import dataclasses
import json
from enum import Enum
from typing import Annotated

import typer

from crawler.cli.app import MAX_STORE_INT, SourcesFileOption, app, fail
from crawler.cli.output import Column, ListFormat, print_table, write_records

FORMAT_HELP = "table for people (plain aligned text in a pipe); json, jsonl, csv for programs."

sources_app = typer.Typer(help="Sources: list the registry, dry-run one, discover a new one from its homepage.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")


def chosen_sources(registry, names: list[str] | None, *, doing: str) -> list[str]:
    """The named sources (default: every enabled one), or one clear error and exit 1."""
    names = list(dict.fromkeys(names)) if names else [s.name for s in registry.values() if s.enabled]  # each once
    unknown = [n for n in names if n not in registry]
    if unknown:
        fail(f"unknown source {unknown[0]!r} (known: {', '.join(registry) or 'none'}; see `expowatch sources list`)")
    if not names:
        fail(f"no enabled sources to {doing}: declare some in a sources file (--sources-file)")
    return names


def check_source_events(registry, taxonomy, sources_file: str | None) -> None:
    """Every source's `event` names an event of the taxonomy, or one clear error and exit 1."""
    import os

    from spiders.sources import SOURCES_ENV

    for source in registry.values():
        if source.event and source.event not in taxonomy:
            where = sources_file or os.environ.get(SOURCES_ENV) or "the built-in sources"
            fail(f"{where}: source {source.name!r}: event {source.event!r} is not a known event "
                 f"(known: {', '.join(e.slug for e in taxonomy)}; add yours with --events-file)")


def load_registry(sources_file: str | None):
    """Built-in plus user sources, or one clear error line and exit 1."""
    from spiders.sources import SourceError, load_sources

    try:
        return load_sources(sources_file)
    except SourceError as exc:
        fail(str(exc))


SOURCE_COLUMNS = ["name", "enabled", "language", "schedule", "homepage", "feeds", "sitemaps", "list_pages", "event"]


class CheckFormat(str, Enum):
    """--format of `sources check`: a report, not a listing."""

    table = "table"
    json = "json"


@sources_app.command("list")
def list_sources(
    sources_file: SourcesFileOption = None,
    fmt: Annotated[ListFormat, typer.Option("--format", "-f", help=FORMAT_HELP)] = ListFormat.table,
) -> None:
    """List every known source (built-in and from the sources file)."""
    registry = load_registry(sources_file)
    if fmt is not ListFormat.table:
        records = [dataclasses.asdict(s) for s in registry.values()]
        write_records(records, fmt, [c for c in SOURCE_COLUMNS if not records or c in records[0]])
        return
    columns = [Column("name"), Column("enabled"), Column("lang"), Column("schedule"), Column("discovery"),
               Column("event"), Column("homepage")]
    print_table(columns, [[s.name, "yes" if s.enabled else "no", s.language or "", s.schedule,
                           f"{len(s.feeds)} feed, {len(s.sitemaps)} sitemap, {len(s.list_pages)} list",
                           s.event or "", s.homepage or ""] for s in registry.values()])


@sources_app.command("check")
def check(
    name: Annotated[str, typer.Argument(help="The source to try.")],
    sources_file: SourcesFileOption = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_STORE_INT, help="How many articles to fetch and extract.")] = 3,
    fmt: Annotated[CheckFormat, typer.Option("--format", "-f", help="table for people, json for programs.")]
        = CheckFormat.table,
) -> None:
    """Dry run: discover, fetch and extract the first few articles and print what would be stored.

    Writes nothing: no store is opened or created. Exits 1 when discovery fails or no
    article could be extracted.
    """
    from crawler.cli.events import load_events
    from spiders.check import check_source

    registry = load_registry(sources_file)
    if name not in registry:
        fail(f"unknown source {name!r} (known: {', '.join(registry) or 'none'}; see `expowatch sources list`)")
    check_source_events({name: registry[name]}, load_events(None), sources_file)
    report = check_source(name, sources_file, limit)
    if fmt is CheckFormat.json:
        typer.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print_report(report)
    if not report.ok:
        if report.discovery_ok == 0:
            why = "no feed, sitemap or list page could be read"
        elif not report.articles:
            why = "no article URL was found (check article_pattern / article_links)"
        else:
            why = "no article could be extracted"
        first = f"; {report.errors[0]['url']}: {report.errors[0]['reason']}" if report.errors else ""
        fail(f"source {name}: check failed: {why}{first}")


def describe_tag(tag: dict) -> str:
    """One event tag as a line: slug, role, edition and year, and the evidence matched."""
    edition = ", ".join(p for p in (f"edition {tag['edition']}" if tag.get("edition") else "",
                                     str(tag["year"]) if tag.get("year") else "") if p)
    matches = ", ".join(dict.fromkeys(repr(e.get("match")) for e in tag.get("evidence", []) if e.get("match")))
    return " ".join(p for p in (tag["event"], tag["role"], edition, f"(matched {matches})" if matches else "") if p)


def print_report(report) -> None:
    """The dry run as readable text."""
    typer.echo(f"source {report.source}: {report.discovery_ok} discovery pages read, "
               f"{report.discovery_failed} failed, {report.articles_found} articles fetched (nothing stored)")
    for article in report.articles:
        typer.echo("")
        typer.echo(article.url)
        if article.skip_reason:
            typer.echo(f"  would skip: {article.skip_reason}")
            continue
        published = article.published_at.isoformat() if article.published_at else "no date found"
        typer.echo(f"  title:     {article.title or '(none)'}")
        typer.echo(f"  published: {published}")
        typer.echo(f"  language:  {article.language or '?'}   text: {article.chars} characters")
        for i, tag in enumerate(article.events):
            typer.echo(f"  {'events:' if i == 0 else '':<11}{describe_tag(tag)}")
        typer.echo(f"  text:      {article.excerpt}")
    if report.errors:
        typer.echo("")
        typer.echo("errors:")
        for error in report.errors:
            typer.echo(f"  {error['url']}: {error['reason']}")
