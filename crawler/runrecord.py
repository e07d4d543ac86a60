"""Records each crawl as a crawl_runs row built from Scrapy's stats, judged by storage.runs.judge_run.

judge_run is importable from here too (storage/runs.py is where runs are judged, recorded and read).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from typing import Any, Callable

from scrapy import signals
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from storage.engine import resolve_db_url, session_factory
from storage.models import CrawlRun
from storage.runs import (  # noqa: F401 - the hand-over names are imported from here too
    RESUME_SETTING,
    RUN_ID_ENV,
    RUN_SOURCE_SETTING,
    SCHEDULER_PID_ENV,
    finish_run,
    is_store_error,
    judge_run,
    start_run,
    store_error_message,
)
from storage.store import ensure_source, this_host, utcnow

logger = logging.getLogger(__name__)

STAT_PREFIX = "expowatch/"
MAX_ERRORS_KEPT = 200  # a run against a dead site can produce thousands; keep the first ones
# How the scheduler hands a run over to a crawl (storage.runs, where the scheduler reads them without Scrapy).
SCHEDULER_CHECK_SECONDS = 1.0  # how often a scheduled crawl looks for its scheduler: cheap (getppid)
SCHEDULER_GONE = "scheduler_gone"  # the close reason then (the run is recorded as partial)
SHUTDOWN = "shutdown"  # the error reason of a fetched page a stopped crawl had no time for (crawler.pipelines)


class StoreBatch:
    """Store writes of crawls' ends (run results, page validators), committed off the reactor thread.

    A thread takes every write waiting and commits them in one transaction; the Deferred of each
    write fires (in the reactor thread) once it is committed, so a crawl's close waits for its
    record. If the batch fails, each of its writes is tried again in a transaction of its own, so
    one bad write fails only its own Deferred. Many small crawls ending together then cost one
    commit instead of two or three each, and none of it runs on the reactor thread.
    """

    def __init__(self, db_url: str, call_in_reactor: Callable[..., Any] | None = None):
        self.db = session_factory(db_url)
        self._call_in_reactor = call_in_reactor  # None: the reactor's callFromThread
        self._waiting: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._commit_forever, name="expowatch-store-batch", daemon=True)
        self._thread.start()

    def submit(self, write: Callable[[Any], None]) -> Deferred:
        """Run write(session) in the next batch; the Deferred fires with None once committed."""
        call = self._call_in_reactor
        if call is None:
            from twisted.internet import reactor

            call = reactor.callFromThread
        done: Deferred = Deferred()
        self._waiting.put((write, done, call))
        return done

    def _commit_forever(self) -> None:
        while True:
            batch = [self._waiting.get()]
            while True:
                try:
                    batch.append(self._waiting.get_nowait())
                except queue.Empty:
                    break
            self._commit(batch)

    def _commit(self, batch: list) -> None:
        try:
            with self.db.begin() as session:
                for write, _done, _reactor in batch:
                    write(session)
        except Exception:  # noqa: BLE001 - find the write that failed: each alone
            if len(batch) > 1:
                for one in batch:
                    self._commit([one])
                return
            _write, done, call = batch[0]
            call(done.errback, Failure())
            return
        for _write, done, call in batch:
            call(done.callback, None)


_batches: dict[str, StoreBatch] = {}
_batches_lock = threading.Lock()


def store_batch(db_url: str | None) -> StoreBatch:
    """This process's StoreBatch for the store at db_url (started on first use)."""
    url = resolve_db_url(db_url)
    with _batches_lock:
        if url not in _batches:
            _batches[url] = StoreBatch(url)
        return _batches[url]


def _jsonable(stats: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(stats, default=str))


class CrawlRunRecorder:
    """Scrapy extension: opens a crawl_runs row when the spider opens, closes it with the verdict."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.db = session_factory(resolve_db_url(crawler.settings.get("EXPOWATCH_DB_URL")))
        self.run_id: int | None = None
        self.handed_over: int | None = None  # a run id trusted as handed over (engine): no read at the open
        self.started_at = None
        self.store_error: str | None = None  # the first store error of the run: it fails the run
        self._watch: task.LoopingCall | None = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self.spider_error, signal=signals.spider_error)
        crawler.signals.connect(self.item_error, signal=signals.item_error)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def spider_opened(self, spider) -> None:
        src = spider.source
        self.started_at = utcnow()
        self.handed_over = self._trusted_run(src.name)
        if self.handed_over is not None:  # an engine's crawl: the row is the scheduler's, opened for this source
            self.run_id = self.handed_over
        else:
            self._open_run(src)
        scheduler_pid = os.environ.get(SCHEDULER_PID_ENV)
        if scheduler_pid and scheduler_pid.isdigit():
            self._watch = task.LoopingCall(self._check_scheduler, int(scheduler_pid))
            self._watch.start(SCHEDULER_CHECK_SECONDS, now=False)

    def _trusted_run(self, source: str) -> int | None:
        """The run id an engine handed over with the source it was opened for, if that is this source."""
        value = self.crawler.settings.get(RUN_ID_ENV)
        if self.crawler.settings.get(RUN_SOURCE_SETTING) != source or not str(value or "").isdigit():
            return None
        return int(value)

    def _open_run(self, src) -> None:
        with self.db.begin() as session:
            source_id = ensure_source(session, src.name, homepage=src.homepage,
                                      language=src.language, timezone_name=src.timezone)
            self.run_id = self._handed_over_run(session, source_id) or start_run(session, source_id)

    def _check_scheduler(self, scheduler_pid: int) -> None:
        if os.getppid() == scheduler_pid:
            return
        logger.warning("the scheduler (pid %d) that started this crawl is gone: stopping", scheduler_pid)
        self._watch.stop()
        deferred_from_coro(self.crawler.engine.close_spider_async(reason=SCHEDULER_GONE))

    def _handed_over_run(self, session, source_id: int) -> int | None:
        """The run row the scheduler opened for this crawl, if it handed one over for this source."""
        value = self.crawler.settings.get(RUN_ID_ENV) or os.environ.get(RUN_ID_ENV)
        if not value:
            return None
        try:
            run_id = int(value)
        except ValueError:
            logger.warning("%s=%r is not a run id; recording a new run", RUN_ID_ENV, value)
            return None
        run = session.get(CrawlRun, run_id)
        if run is None or run.source_id != source_id or run.status != "running":
            return None  # another source of a multi-source crawl, or a stale id: a row of its own
        run.started_at = utcnow()  # the crawl starts now; the scheduler's launch is in its own log
        run.pid, run.host = os.getpid(), this_host()  # the process that holds the run from now on
        return run_id

    def spider_error(self, failure, response, spider) -> None:
        """A callback raised: the page's failure, recorded with its URL (never an ok run that lost a page)."""
        kind = "article" if response.request.callback == getattr(spider, "parse_article", None) else "discovery"
        self._failed(spider, response.url, failure.value, kind)

    def item_error(self, item, response, spider, failure) -> None:
        """A pipeline stage raised (other than DropItem): the article's failure, recorded with its URL."""
        self._failed(spider, getattr(item, "url", None) or response.url, failure.value, "article")

    def _failed(self, spider, url: str, error: BaseException, kind: str) -> None:
        if is_store_error(error):
            message = store_error_message(error)
            self.store_error = self.store_error or message
        else:
            message = f"{type(error).__name__}: {error}"
        record = getattr(spider, "record_error", None)
        if record is not None:
            record(url, message, kind)

    async def spider_closed(self, spider, reason: str) -> None:
        """Record the run's result; the crawl ends once it is committed (the engine then tells the
        scheduler it ended)."""
        await maybe_deferred_to_future(self._record_result(spider, reason))

    def _record_result(self, spider, reason: str) -> Deferred:
        if self._watch is not None and self._watch.running:
            self._watch.stop()
        stats = self.crawler.stats.get_stats()
        count = lambda key: int(stats.get(STAT_PREFIX + key, 0))  # noqa: E731
        new, dup, skipped = count("articles_new"), count("articles_duplicate"), count("articles_skipped")
        # Pages the crawl had no time for when stopped are no verdict on the source.
        article_errors = sum(1 for e in spider.errors if e["kind"] == "article" and e["reason"] != SHUTDOWN)
        status, message = judge_run(
            close_reason=reason,
            discovery_ok=spider.discovery["ok"],
            discovery_failed=spider.discovery["failed"],
            articles_done=new + dup + skipped,
            article_errors=article_errors,
            store_error=self.store_error,
        )
        if status == "failed" and spider.errors and not self.store_error:
            first = spider.errors[0]
            message = f"{message}; {first['url']}: {first['reason']}"
        skip_reasons = {k[len(STAT_PREFIX + "skipped/"):]: v for k, v in stats.items()
                        if k.startswith(STAT_PREFIX + "skipped/")}
        fields = dict(status=status, message=message, pages_fetched=int(stats.get("downloader/response_count", 0)),
                      articles_new=new, articles_duplicate=dup, articles_skipped=skipped, skip_reasons=skip_reasons,
                      errors=spider.errors[:MAX_ERRORS_KEPT], stats=_jsonable(stats))
        if self.handed_over is not None:  # what _handed_over_run writes at the open, written with the result
            fields.update(started_at=self.started_at, pid=os.getpid(), host=this_host())
        run_id = self.run_id
        log = logger.error if status == "failed" else logger.info
        log("%s: run %s %s: %d new, %d duplicate, %d skipped, %d errors%s", spider.name, self.run_id,
            status, new, dup, skipped, len(spider.errors), f" ({message})" if message else "")
        return store_batch(self.crawler.settings.get("EXPOWATCH_DB_URL")).submit(
            lambda session: finish_run(session, run_id, **fields))
