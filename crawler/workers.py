"""The process pool that runs extraction off the Scrapy reactor, shared by all crawls in a process."""

from __future__ import annotations

import atexit
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

_pool: ProcessPoolExecutor | None = None


def extraction_pool(workers: int | None = None) -> ProcessPoolExecutor:
    """The process-wide extraction pool (one worker per core by default)."""
    global _pool
    if _pool is None:
        # forkserver: workers do not inherit the reactor's threads and sockets
        context = multiprocessing.get_context("forkserver")
        _pool = ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1, mp_context=context)
        atexit.register(_pool.shutdown, wait=True, cancel_futures=True)
    return _pool
