"""Writing query results as JSON, JSON Lines and CSV, one record at a time.

Records are the JSON-ready dicts of storage.queries (datetimes as ISO 8601 strings).
Writers take an iterable and never hold more than one record, so an export of any
size runs in constant memory.

CSV cells that a spreadsheet would read as a formula (starting with = + - @, a tab or
a carriage return) are prefixed with a single quote, as OWASP advises; a cell that
already starts with quotes before such a character gets one more, so read_csv can
undo the prefix exactly. Lists and objects are JSON inside the cell; an empty cell
is null.
"""

from __future__ import annotations

import csv
import json
import re
import types
import typing
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TextIO

FORMULA_PREFIX = "'"
FORMULA_CELL = re.compile(r"^'*[=+\-@\t\r]")  # what spreadsheets evaluate, after any earlier prefixes
ESCAPED_FORMULA_CELL = re.compile(r"^'+[=+\-@\t\r]")


def escape_formula(cell: str) -> str:
    """cell made safe to open in a spreadsheet (reversible with unescape_formula)."""
    return FORMULA_PREFIX + cell if FORMULA_CELL.match(cell) else cell


def unescape_formula(cell: str) -> str:
    """The original value of a cell written by escape_formula."""
    return cell[len(FORMULA_PREFIX):] if ESCAPED_FORMULA_CELL.match(cell) else cell


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict)):
        value = json.dumps(value, ensure_ascii=False)
    return escape_formula(str(value))


def write_jsonl(records: Iterable[Mapping[str, Any]], out: TextIO) -> int:
    """One JSON object per line (UTF-8 text, not ASCII escapes); returns the count."""
    count = 0
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False))
        out.write("\n")
        count += 1
    return count


def write_json(records: Iterable[Mapping[str, Any]], out: TextIO) -> int:
    """A JSON array, written record by record; returns the count."""
    count = 0
    out.write("[")
    for record in records:
        out.write(",\n  " if count else "\n  ")
        out.write(json.dumps(record, ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def write_csv(records: Iterable[Mapping[str, Any]], out: TextIO, columns: Sequence[str]) -> int:
    """CSV with a header row of columns, formula-safe cells; returns the count.

    out must be opened with newline="" (csv writes its own \\r\\n row ends).
    """
    writer = csv.writer(out)
    writer.writerow(columns)
    count = 0
    for record in records:
        writer.writerow(csv_cells(record, columns))
        count += 1
    return count


def csv_cells(record: Mapping[str, Any], columns: Sequence[str]) -> list[str]:
    """One record's CSV cells in column order, formula-safe (what write_csv writes per row)."""
    return [_csv_cell(record.get(column)) for column in columns]


def read_csv(inp: TextIO, decoders: Mapping[str, Callable[[str], Any]] | None = None) -> Iterator[dict[str, Any]]:
    """The records of a CSV written by write_csv: prefixes undone, empty cells None.

    decoders turn a column's text back into its value (int, float, json.loads ...);
    other columns stay strings. inp must be opened with newline="".
    """
    decoders = decoders or {}
    for row in csv.DictReader(inp):
        record = {}
        for column, cell in row.items():
            if cell == "":
                record[column] = None
                continue
            cell = unescape_formula(cell)
            record[column] = decoders[column](cell) if column in decoders else cell
        yield record


def decoders_for(record_type: type) -> dict[str, Callable[[str], Any]]:
    """CSV decoders for the fields of a dataclass whose to_dict() was exported.

    ints and floats are parsed, lists (tuples) and dicts are JSON; strings and
    datetimes stay text, as to_dict() gives them.
    """
    decoders: dict[str, Callable[[str], Any]] = {}
    for name, hint in typing.get_type_hints(record_type).items():
        options = [a for a in typing.get_args(hint) if a is not type(None)] if _is_union(hint) else [hint]
        base = typing.get_origin(options[0]) or options[0]
        if base in (int, float):
            decoders[name] = base
        elif base in (tuple, list, dict):
            decoders[name] = json.loads
        elif base not in (str, datetime):
            raise TypeError(f"{record_type.__name__}.{name}: no CSV decoder for {hint!r}")
    return decoders


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)
