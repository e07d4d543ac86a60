"""`expowatch search`: query the article store (a thin layer over storage.queries)."""

from __future__ import annotations

import sys
from datetime import datetime, tzinfo
from enum import Enum
from typing import Annotated

import typer

from crawler.cli.app import DbOption, app
from crawler.cli.filters import SearchRequest, run_query, with_search_filters
from crawler.cli.output import Column, quiet_broken_pipe, say_count
from crawler.cli.output import print_table as print_listing

SEARCH_LIMIT = 20  # one screen of results when --limit is not given
TABLE_DATE = "%Y-%m-%d %H:%M"


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


def write_records(records, fmt: str, out, columns) -> int:
    """Write JSON-ready dicts to out as json, jsonl or csv; returns the count."""
    from storage.exports import write_csv, write_json, write_jsonl

    if fmt == "csv":
        return write_csv(records, out, columns)
    return (write_json if fmt == "json" else write_jsonl)(records, out)


def local_time(value: datetime | None, zone: tzinfo) -> str:
    """A stored UTC instant as a short local date-time ('' for none)."""
    return value.astimezone(zone).strftime(TABLE_DATE) if value else ""


def print_table(hits, zone: tzinfo, total: int, offset: int) -> None:
    """The hits as a table for a person (slug, source and URL whole; titles wrap), and how many there are."""
    columns = [Column("id", justify="right"), Column("published"), Column("source"), Column("events"),
               Column("title", wrap=True), Column("url")]
    print_listing(columns, [[str(h.id), local_time(h.published_at, zone), h.source, "\n".join(h.events),
                             h.title or "", h.url] for h in hits])
    typer.echo(shown_of_total(len(hits), total, offset), err=True)


def shown_of_total(shown: int, total: int, offset: int) -> str:
    """'1-20 of 48 matching articles', 'no matching articles', 'none of 48 matching articles past --offset 50'."""
    if shown:
        return f"{offset + 1}-{offset + shown} of {say_count(total, 'matching article')}"
    if total:
        return f"none of {say_count(total, 'matching article')} past --offset {offset}"
    return "no matching articles"


@app.command()
@with_search_filters
def search(
    request: SearchRequest,
    db: DbOption = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="table for people; json, jsonl, csv for programs.")]
        = OutputFormat.table,
) -> None:
    """Search stored articles: one row per story, newest first (20 unless --limit).

    Examples: expowatch search '智博会 OR "Smart China Expo"' --since 30d;
    expowatch search robot -e world-intelligence-expo --year 2024 --format csv > out.csv;
    expowatch search --new --name daily-wie -e world-intelligence-expo (what is new since last time).
    """
    from storage.queries import HIT_COLUMNS, search as run_search, search_and_count

    with run_query(db, request, default_limit=SEARCH_LIMIT) as (session, query):
        if fmt is OutputFormat.table:  # the table says how many match in all
            hits, total = search_and_count(session, query)
        else:
            hits, total = run_search(session, query), 0
        with quiet_broken_pipe():
            if fmt is OutputFormat.table:
                print_table(hits, request.tz, total, query.offset)
            else:
                write_records((h.to_dict() for h in hits), fmt.value, sys.stdout, HIT_COLUMNS)
