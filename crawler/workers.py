"""The extraction pool shared by every crawl in a process: off the reactor, with a time cap per page."""

from __future__ import annotations

import atexit

from crawler.extraction_pool import DEFAULT_TIMEOUT_S, ExtractionPool

_pool: ExtractionPool | None = None


def extraction_pool(workers: int | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> ExtractionPool:
    """The process-wide extraction pool (one worker per core by default)."""
    global _pool
    if _pool is None:
        _pool = ExtractionPool(workers=workers, timeout=timeout)
        atexit.register(_pool.close)
    return _pool
