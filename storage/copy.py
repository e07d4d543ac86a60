"""Moving a store to another database (typically SQLite -> PostgreSQL), with everything in it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from storage.engine import get_engine
from storage.migrate import ensure_schema
from storage.models import Base

COPY_BATCH_ROWS = 2_000  # bounded memory per batch; large enough that round trips do not dominate


class CopyError(RuntimeError):
    """The copy cannot start (target not empty, schema mismatch)."""


@dataclass(frozen=True)
class CopyReport:
    """Rows copied per table."""

    rows: dict[str, int]


def copy_store(source_url: str, target_url: str, *, progress: Callable[[str, int], None] | None = None) -> CopyReport:
    """Copy every table of the store at source_url into the (empty) store at target_url.

    Ids are kept, so links between rows stay as they were; PostgreSQL sequences are
    moved past the copied ids. The target is migrated to the newest schema first and
    must hold no articles or sources.
    """
    ensure_schema(source_url)
    ensure_schema(target_url)
    source, target = get_engine(source_url, for_writing=False), get_engine(target_url)
    tables = Base.metadata.sorted_tables  # parents before children
    with target.connect() as conn:
        busy = [t.name for t in tables if conn.execute(select(func.count()).select_from(t)).scalar()]
    if busy:
        raise CopyError(f"the target store is not empty (table {busy[0]} has rows); copy into a new database")
    counts: dict[str, int] = {}
    with source.connect() as src, target.begin() as dst:
        for table in tables:
            counts[table.name] = 0
            result = src.execution_options(yield_per=COPY_BATCH_ROWS).execute(select(table))
            for batch in result.partitions(COPY_BATCH_ROWS):
                dst.execute(table.insert(), [dict(row._mapping) for row in batch])
                counts[table.name] += len(batch)
                if progress:
                    progress(table.name, counts[table.name])
        _advance_sequences(target, dst)
    return CopyReport(rows=counts)


def _advance_sequences(target: Engine, conn) -> None:
    """After inserting explicit ids, make PostgreSQL's serial sequences continue after them."""
    if target.dialect.name != "postgresql":
        return
    for table in Base.metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or not pk[0].autoincrement or pk[0].type.python_type is not int:
            continue
        seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": pk[0].name}).scalar()
        if seq:
            conn.execute(text(f"SELECT setval('{seq}', COALESCE((SELECT MAX({pk[0].name}) FROM {table.name}), 0) + 1, false)"))
