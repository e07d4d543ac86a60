"""Workers shared by every crawl in a process: the extraction pool and the store writer.

Extraction runs off the reactor in processes with a time cap per page. Writes go
through one writer per crawl process (storage.writer.BatchWriter: many articles per
transaction, written by a process of its own): crawls of several sources in one
process would otherwise queue on SQLite's write lock against each other.
"""

from __future__ import annotations

import atexit

from crawler.extraction_pool import DEFAULT_TIMEOUT_S, ExtractionPool, worker_context
from storage.writer import BatchWriter

_pool: ExtractionPool | None = None
_writer: BatchWriter | None = None


def extraction_pool(workers: int | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> ExtractionPool:
    """The process-wide extraction pool (one worker per core by default)."""
    global _pool
    if _pool is None:
        _pool = ExtractionPool(workers=workers, timeout=timeout)
        atexit.register(_pool.close)
    return _pool


def store_writer() -> BatchWriter:
    """The process-wide store writer: every store write of every crawl in this process, in order."""
    global _writer
    if _writer is None:
        _writer = BatchWriter(mp_context=worker_context())
        atexit.register(_writer.close)
    return _writer


def close_workers() -> None:
    """Commit what the store writer holds and stop the extraction workers (a long-lived engine's exit)."""
    global _pool, _writer
    if _writer is not None:
        _writer.close()
        _writer = None
    if _pool is not None:
        _pool.close()
        _pool = None
