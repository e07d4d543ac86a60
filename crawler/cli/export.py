"""`expowatch export`: every field of a filtered selection as JSON Lines or CSV, streamed."""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Iterable, Iterator

import typer

from crawler.cli.app import DbOption, app, fail
from crawler.cli.filters import SearchRequest, run_query, with_search_filters
from crawler.cli.search import quiet_broken_pipe, write_records

PROGRESS_EVERY = 1000  # articles between progress updates on a terminal


class ExportFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"
    json = "json"


def _with_progress(records: Iterable[dict], total: int) -> Iterator[dict]:
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task("exporting", total=total)
        for done, record in enumerate(records, 1):
            yield record
            if done % PROGRESS_EVERY == 0:
                progress.update(task, completed=done)


@app.command()
@with_search_filters
def export(
    request: SearchRequest,
    db: DbOption = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="jsonl (one article per line) or csv.")]
        = ExportFormat.jsonl,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: standard output).")]
        = None,
) -> None:
    """Export every field of the matching articles (default: all of them), streaming in constant memory.

    CSV cells that a spreadsheet would run as a formula (= + - @ tab CR first) get a
    leading ' (see docs/querying.md). A file is written under a temporary name and
    renamed when complete, so a failed export leaves no half file.
    """
    from storage.queries import EXPORT_COLUMNS, count, iter_articles

    with run_query(db, request, default_limit=None) as (session, query):
        records: Iterable[dict] = (a.to_dict() for a in iter_articles(session, query))
        if output is None:
            with quiet_broken_pipe():
                write_records(records, fmt.value, sys.stdout, EXPORT_COLUMNS)
            return
        if sys.stderr.isatty():
            records = _with_progress(records, count(session, query))
        partial = output.with_name(output.name + ".part")
        try:
            with partial.open("w", encoding="utf-8", newline="") as out:
                written = write_records(records, fmt.value, out, EXPORT_COLUMNS)
            os.replace(partial, output)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            fail(f"cannot write {output}: {exc.strerror or exc}")
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    if sys.stderr.isatty():
        typer.echo(f"exported {written} articles to {output}", err=True)
