"""Run extract_article on every core, with a time cap per document.

A process pool (pebble.ProcessPool) whose workers are killed and replaced when
a document runs over its time cap, so one pathological page (a huge table, a
catastrophic selector) cannot stall a crawl. A timed-out document resolves to
an ExtractedArticle with skip_reason "timeout" rather than an exception: it is
a verdict on the page, recorded like any other skip.

    with ExtractionPool() as pool:
        future = pool.submit(html, url, http_charset="gbk", hints=hints)
        article = future.result()
        page = pool.submit_page(PageTask(html, url, hints=hints)).result()  # + tags, fingerprints

Workers fork from a forkserver that has already imported the extractor and loaded
the language model (crawler.worker_preload), so a new or replacement worker starts
warm instead of paying seconds of imports and model loading.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import itertools
import threading
import weakref
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Callable, TypeVar

import pebble

from crawler.extract.extraction import ExtractedArticle, ExtractionHints, extract_article
from crawler.extract.language import detect_language
from crawler.page_work import PageTask, ProcessedPage, process_page

Result = TypeVar("Result")
logger = logging.getLogger(__name__)

# A normal page extracts in 5–50 ms; even a 5 MB page (quality.MAX_HTML_BYTES)
# finishes within a few seconds. Twenty seconds is far past any honest page.
DEFAULT_TIMEOUT_S = 20.0

# Pages in flight that can be withdrawn one by one (slots are reused round-robin; a crawl has a
# few hundred pages in flight at most).
WITHDRAW_SLOTS = 65_536

# Workers are replaced after this many documents so memory that lxml or
# trafilatura caches never grows without bound over a long crawl.
WORKER_MAX_TASKS = 500

# forkserver: workers do not inherit the Scrapy reactor's threads and sockets,
# and each starts from a clean interpreter that imports the extractor once.
START_METHOD = "forkserver"
# Imported once by the forkserver: its children leave the crawl's process group (so a signal to
# the group reaches the crawl only, which then shuts them down in order), and every worker
# forked from it starts warm.
FORKSERVER_PRELOAD = ["crawler.helper_session", "crawler.worker_preload"]


def worker_context(start_method: str = START_METHOD) -> multiprocessing.context.BaseContext:
    """The multiprocessing context for expowatch's helper processes (extraction workers, the store writer)."""
    context = multiprocessing.get_context(start_method)
    if start_method == "forkserver":
        context.set_forkserver_preload(FORKSERVER_PRELOAD)
    return context


def start_forkserver(start_method: str = START_METHOD) -> None:
    """Start the forkserver (and its preload) now, without waiting for it.

    Its first fork waits until the preload is done (about 1.5 s of imports and warm-up);
    started when the first article is requested, that happens while the page downloads
    instead of blocking the reactor at the first extraction.
    """
    worker_context(start_method)
    if start_method == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


class ExtractionFailed(RuntimeError):
    """A worker died (not timed out) while extracting a page; the message names the URL."""


class ExtractionPool:
    """Process pool running extract_article with a per-document timeout."""

    def __init__(
        self,
        workers: int | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        *,
        max_tasks: int = WORKER_MAX_TASKS,
        start_method: str = START_METHOD,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.workers = workers or os.cpu_count() or 1
        self.timeout = timeout
        context = worker_context(start_method)
        # One flag per page in flight, shared with the workers: a withdrawn page is skipped by the
        # worker that takes it (pebble hands every page to its workers at once; cancelling one a
        # worker holds would cost that worker its life).
        self._withdrawn = context.Array("b", WITHDRAW_SLOTS, lock=False)
        self._slots = itertools.count()
        self._pool = pebble.ProcessPool(
            max_workers=self.workers,
            max_tasks=max_tasks,
            initializer=init_worker,
            initargs=(self._withdrawn,),
            context=context,
        )
        # Launching the workers waits for the forkserver's preload (~1.5 s): a thread does it, and
        # pages submitted meanwhile wait in `_pending` instead of blocking the caller (the reactor).
        self._lock = threading.Lock()
        self._pending: list[tuple] | None = []  # None once the workers are up
        self._slot_of: weakref.WeakKeyDictionary[Future, int] = weakref.WeakKeyDictionary()
        self._starter = threading.Thread(target=self._start, name="expowatch-pool-start", daemon=True)
        self._starter.start()

    def submit(
        self,
        html: bytes,
        url: str,
        http_charset: str | None = None,
        hints: ExtractionHints | None = None,
    ) -> Future[ExtractedArticle]:
        """Schedule one page; the future resolves to its ExtractedArticle (skip_reason "timeout" if too slow)."""
        return self._schedule(extract_article, (html, url), {"http_charset": http_charset, "hints": hints},
                              url, lambda: timed_out(url, self.timeout))

    def submit_page(self, task: PageTask) -> Future[ProcessedPage]:
        """Schedule one page's whole worker side (crawler.page_work.process_page): extract, tag, fingerprint."""
        return self._schedule(process_page, (task,), {}, task.url,
                              lambda: ProcessedPage(timed_out(task.url, self.timeout)))

    def _schedule(self, function: Callable[..., Result], args: tuple, kwargs: dict, url: str,
                  on_timeout: Callable[[], Result]) -> Future[Result]:
        outer: Future[Result] = Future()
        outer.set_running_or_notify_cancel()
        slot = next(self._slots) % WITHDRAW_SLOTS
        self._withdrawn[slot] = 0
        self._slot_of[outer] = slot
        function, args, kwargs = _unless_withdrawn, (slot, function, args, kwargs), {}
        with self._lock:
            if self._pending is not None:
                self._pending.append((outer, function, args, kwargs, url, on_timeout))
                return outer
        self._hand_over(outer, function, args, kwargs, url, on_timeout)
        return outer

    def _hand_over(self, outer: Future, function: Callable, args: tuple, kwargs: dict, url: str,
                   on_timeout: Callable[[], object]) -> None:
        try:
            inner = self._pool.schedule(function, args=args, kwargs=kwargs, timeout=self.timeout)
        except Exception as exc:  # noqa: BLE001 - e.g. a closed pool: the page's failure, with its URL
            outer.set_exception(ExtractionFailed(f"{url}: could not schedule extraction: {exc}"))
            return
        inner.add_done_callback(lambda done: _settle(outer, done, url, on_timeout))

    def withdraw(self, outer: Future) -> None:
        """Give up on a submitted page (a crawl being stopped): unless a worker has started it, it is
        skipped, and its future fails with ExtractionFailed."""
        slot = self._slot_of.pop(outer, None)
        if slot is not None:
            self._withdrawn[slot] = 1

    def _start(self) -> None:
        """Launch the workers (pebble starts them with its first task), then hand over what waited."""
        try:
            self._pool.schedule(_started).result()
        except Exception:  # noqa: BLE001 - the pages' own schedule calls will report it
            logger.exception("the extraction workers did not start")
        while True:
            with self._lock:
                waiting, self._pending = self._pending, ([] if self._pending else None)
            if not waiting:
                return
            for queued in waiting:
                self._hand_over(*queued)

    def close(self) -> None:
        """Finish scheduled documents, then stop the workers."""
        self._starter.join()
        self._pool.close()
        self._pool.join()

    def stop(self) -> None:
        """Stop at once, killing workers mid-document (their futures are cancelled)."""
        self._starter.join()
        self._pool.stop()
        self._pool.join()

    def __enter__(self) -> ExtractionPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _started() -> bool:
    """The first task of a pool: it only makes pebble launch the workers."""
    return True


def timed_out(url: str, timeout: float) -> ExtractedArticle:
    """The record of a page whose extraction ran past the time cap."""
    return ExtractedArticle(
        url=url,
        title=None,
        text="",
        skip_reason="timeout",
        warnings=[f"extraction took longer than {timeout:g}s; the worker was stopped"],
    )


def init_worker(withdrawn=None) -> None:
    """Prepare a worker: immediate death on SIGTERM, the table of withdrawn pages, and the language
    model loaded before any page."""
    global _WITHDRAWN
    _WITHDRAWN = withdrawn
    # A worker stuck inside lxml's C code cannot run pebble's Python SIGTERM
    # handler, so pebble would wait 3 s before its SIGKILL; the default action
    # ends the worker as soon as the time cap is reached.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Loading the language model takes ~0.5 s; paid here, it counts against no page's time cap.
    detect_language("warm up the language model before the first page arrives")


_WITHDRAWN = None  # in a worker: the pool's table of withdrawn pages (init_worker)


def _unless_withdrawn(slot: int, function: Callable, args: tuple, kwargs: dict):
    """Run one page in a worker, unless the pool withdrew it meanwhile (then None)."""
    if _WITHDRAWN is not None and _WITHDRAWN[slot]:
        return None
    return function(*args, **kwargs)


def _settle(outer: Future, inner: Future, url: str, on_timeout: Callable[[], object]) -> None:
    if not inner.cancelled() and inner.exception() is None and inner.result() is None:
        outer.set_exception(ExtractionFailed(f"{url}: extraction withdrawn (the crawl was stopped)"))
        return
    if inner.cancelled():
        outer.set_exception(ExtractionFailed(f"{url}: extraction cancelled (pool stopped)"))
        return
    error = inner.exception()
    if error is None:
        outer.set_result(inner.result())
    elif isinstance(error, FutureTimeout):
        outer.set_result(on_timeout())
    elif isinstance(error, pebble.ProcessExpired):
        failure = ExtractionFailed(f"{url}: extraction worker died (exit code {error.exitcode})")
        outer.set_exception(failure)
    else:
        outer.set_exception(error)
