"""Listings for people and for programs: one writer for every listing command.

On a terminal a listing is a table whose identifying columns (slugs, sources, URLs) are
never cut: a title wraps instead, and the table grows wider than the window rather
than hide part of a name someone must type. In a pipe (cron mail, less, grep) it is
plain text in aligned columns with every value whole. --format json, jsonl and csv
give the records themselves.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, Iterable, Iterator, Mapping, Sequence

import typer

GAP = "  "  # between the columns of plain text


class ListFormat(str, Enum):
    """--format of a listing command."""

    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


@dataclass(frozen=True)
class Column:
    """One column of a table: its heading, and whether its values may wrap (a title) or never (a slug)."""

    heading: str
    wrap: bool = False
    justify: str = "left"


def json_ready(value: Any) -> Any:
    """value with datetimes as ISO 8601 strings, for JSON and CSV."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def write_records(records: Iterable[Mapping[str, Any]], fmt: ListFormat, columns: Sequence[str]) -> None:
    """The records to stdout as json (an indented array), jsonl or csv (columns in this order)."""
    from storage.exports import write_csv, write_jsonl

    records = [json_ready(r) for r in records]
    with quiet_broken_pipe():
        if fmt is ListFormat.json:
            sys.stdout.write(json.dumps(records, ensure_ascii=False, indent=2) + "\n")
        elif fmt is ListFormat.jsonl:
            write_jsonl(records, sys.stdout)
        else:
            sys.stdout.reconfigure(newline="")
            write_csv(records, sys.stdout, columns)


def print_table(columns: Sequence[Column], rows: Iterable[Sequence[str]], *, styles: Sequence[str] | None = None) -> None:
    """rows under the column headings: a table on a terminal, aligned plain text in a pipe.

    A cell may hold several lines (one event per line); plain text joins them with ", ".
    styles: rich markup per row (the terminal only), e.g. "red" for a failed run.
    """
    rows = [[cell or "" for cell in row] for row in rows]
    with quiet_broken_pipe():
        if sys.stdout.isatty():
            _rich_table(columns, rows, styles)
        else:
            _plain_table(columns, rows)


def _plain_table(columns: Sequence[Column], rows: list[list[str]]) -> None:
    flat = [[" ".join(cell.split("\n")) if column.wrap else ", ".join(cell.splitlines()) for column, cell
             in zip(columns, row)] for row in rows]
    from rich.cells import cell_len  # Chinese characters take two columns

    headings = [c.heading for c in columns]
    widths = [max([cell_len(h)] + [cell_len(r[i]) for r in flat]) for i, h in enumerate(headings)]
    for row in [headings, *flat]:
        cells = []
        for column, cell, width in zip(columns, row, widths):
            pad = " " * (width - cell_len(cell))
            cells.append(pad + cell if column.justify == "right" else cell + pad)
        sys.stdout.write(GAP.join(cells).rstrip() + "\n")


def _rich_table(columns: Sequence[Column], rows: list[list[str]], styles: Sequence[str] | None) -> None:
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(highlight=False)
    needed = 1
    for i, column in enumerate(columns):
        longest = max([cell_len(column.heading)] + [max(map(cell_len, r[i].splitlines() or [""])) for r in rows])
        if column.wrap:
            table.add_column(column.heading, overflow="fold", min_width=min(longest, 20), justify=column.justify)
            needed += min(longest, 20) + 3
        else:
            table.add_column(column.heading, no_wrap=True, min_width=longest, justify=column.justify)
            needed += longest + 3
    for index, row in enumerate(rows):
        style = styles[index] if styles else None
        table.add_row(*(Text(cell) for cell in row), style=style)
    terminal = Console().width
    Console(width=max(terminal, needed), soft_wrap=False).print(table)


@contextmanager
def quiet_broken_pipe() -> Iterator[None]:
    """End quietly when the reader of stdout goes away (`expowatch search ... | head`)."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python flushes stdout again at exit
        raise typer.Exit(0)


def say_count(n: int, singular: str, plural: str | None = None) -> str:
    """'1 copy', '2 copies', '0 articles'."""
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"

