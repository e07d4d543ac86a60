"""A distributed crawl worker: serve the sources that have requests queued in Redis.

One process, one Twisted reactor, one Scrapy crawler per source being served (the source's
own spider class and settings: delay, concurrency, robots), at most `max_sources` at once.
The reactor, the runner and the warm extraction pool and store writer are the engine core's
(crawler.engine.core), which the scheduler's crawl engine runs too; this is its Redis front end.
A crawler closes by itself when its source's queue is empty and its requests are done.
Every TICK_S the worker:

1. checks that Redis is the server it started with (a restarted Redis may have lost the
   queue: the worker says so and exits 1, rather than idling on an empty queue);
2. checks the store answers, renews its heartbeat (a key with a TTL) and the ids of the
   crawl_runs rows it has open;
3. looks for dead workers (registered, heartbeat expired): puts their in-flight requests back
   in the queues (dropping and recording poisoned ones) and closes their run rows as failed;
4. opens a crawler for sources with queued requests it does not serve yet;
5. with until_idle: stops once nothing was queued or in flight anywhere for that long.

Redis unreachable stops the worker with exit code 1 and one line naming the server; so does
a store that stops answering. SIGTERM / SIGINT stop it cleanly (requests in flight go back to
the queue); a second signal stops it at once.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
from collections import Counter
from dataclasses import dataclass, field
from time import monotonic
from typing import Mapping

import redis
from scrapy.crawler import Crawler
from scrapy.settings import Settings
from scrapy.utils.ossignal import install_shutdown_handlers
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from twisted.python.failure import Failure

from crawler.distributed.keys import (
    PENDING,
    QUEUE_KEY,
    SEEN_KEY,
    WORKERS,
    connect,
    describe,
    draining_key,
    heartbeat_key,
    inflight_key,
    redact,
    redis_params,
    runs_key,
)
from crawler.distributed.poison import record_poisoned
from crawler.distributed.queue import prune_pending, queued, requeue
from crawler.distributed.spiders import consumer_class
from crawler.engine.core import EngineCore, core_settings
from storage.engine import session_factory
from storage.runs import fail_running_runs

logger = logging.getLogger(__name__)

TICK_S = 0.25  # how often a worker looks for work: short next to any crawl, cheap for Redis (a few commands)
HEARTBEAT_TTL_S = 30.0  # a worker silent this long is dead; far above any pause of a healthy reactor
MAX_SOURCES = 8  # sources one worker crawls at once; each holds at most its `concurrency` requests
MAX_DELIVERIES = 3  # a request whose workers died this many times (or a page extraction crashed on
# this many times, across runs) is poisoned: one death may be bad luck, three in a row is the page
SAMPLE_FACTOR = 4  # pending sources looked at per free crawler slot in one tick
# After Redis or the store is lost, crawlers get this long to close (record their runs) before the
# process ends: each call to what is gone fails slowly, and there is nothing left to save.
FAILED_STOP_GRACE_S = 5.0
EXIT_FAILED = 1


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker serves and how."""

    redis_url: str
    db_url: str
    sources_file: str | None = None
    events_file: str | None = None
    max_sources: int = MAX_SOURCES
    until_idle: float | None = None  # seconds with nothing queued or in flight before exiting; None: serve forever
    heartbeat_ttl: float = HEARTBEAT_TTL_S
    max_deliveries: int = MAX_DELIVERIES
    extract_workers: int | None = None  # extraction processes (None: one per core)
    verbose: bool = False


@dataclass
class WorkerResult:
    """How a worker ended, and what its crawlers did."""

    worker_id: str
    exit_code: int = 0
    message: str | None = None
    totals: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        t = self.totals
        return (f"worker {self.worker_id}: {t['runs']} source runs, {t['new']} new, {t['duplicate']} duplicate, "
                f"{t['skipped']} skipped, {t['errors']} errors, {t['pages']} pages fetched")


def new_worker_id() -> str:
    """host:pid:random, unique among live and dead workers."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def worker_settings(config: WorkerConfig, worker_id: str) -> Settings:
    """The project's crawl settings with the shared queue, leases and the shared pace switched on."""
    settings = core_settings(
        db_url=config.db_url, sources_file=config.sources_file, events_file=config.events_file,
        log_level="INFO" if config.verbose else "WARNING", extract_workers=config.extract_workers,
        download_handler="crawler.distributed.pace.SharedPaceDownloadHandler",
        overrides={
            "SCHEDULER": "crawler.distributed.scheduler.LeasedScheduler",
            "SCHEDULER_QUEUE_CLASS": "crawler.distributed.queue.LeasedQueue",
            "SCHEDULER_QUEUE_KEY": QUEUE_KEY,
            "SCHEDULER_DUPEFILTER_KEY": SEEN_KEY,
            "SCHEDULER_SERIALIZER": "crawler.distributed.serializer",
            "SCHEDULER_PERSIST": True,
            "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
            "REDIS_URL": config.redis_url,
            "REDIS_PARAMS": redis_params(),
            "EXPOWATCH_WORKER_ID": worker_id,
            "EXPOWATCH_MAX_DELIVERIES": config.max_deliveries,
            # Validators are saved when a crawl finishes with every article of a page dealt with; in a
            # worker the articles of a page may still wait in the queue or be on another machine.
            "EXPOWATCH_CONDITIONAL_GET": False,
        },
    )
    middlewares = {**settings.getdict("SPIDER_MIDDLEWARES"), "crawler.distributed.leases.LeaseKeeper": 10}
    settings.set("SPIDER_MIDDLEWARES", middlewares, priority="cmdline")
    return settings


def server_identity(server: redis.Redis) -> str:
    """The Redis server's run id: a new one after every restart."""
    return str(server.info("server")["run_id"])


class Worker:
    """Runs crawlers for queued sources until stopped; see the module docstring."""

    def __init__(self, config: WorkerConfig, spider_classes: Mapping[str, type]):
        self.config = config
        self.id = new_worker_id()
        self.server = connect(config.redis_url)  # RedisUnavailable: nothing started yet
        self.identity = server_identity(self.server)
        self.spider_classes = {name: consumer_class(cls) for name, cls in spider_classes.items()}
        self.db = session_factory(config.db_url)
        self.result = WorkerResult(self.id)
        self.core: EngineCore | None = None  # made by run(): the reactor is installed there
        self.stopping = False
        self.finished = False
        self.idle_since: float | None = None
        self.next_beat = 0.0
        self.beat_every = max(TICK_S, config.heartbeat_ttl / 3)
        self.not_served: set[str] = set()  # queued sources this worker has no declaration for (warned once)

    @property
    def crawlers(self) -> dict[str, Crawler]:
        """Source -> its crawler, while it runs (the core's)."""
        return self.core.crawls if self.core is not None else {}

    # ---- lifecycle -------------------------------------------------------
    def run(self) -> WorkerResult:
        """Serve until stopped; blocks. Returns how it ended."""
        self.core = EngineCore(worker_settings(self.config, self.id))
        from twisted.internet import task

        self.reactor = self.core.reactor
        self.loop = task.LoopingCall(self._tick)
        self.reactor.callWhenRunning(self._begin)
        install_shutdown_handlers(self._on_signal)
        self.core.run()  # until stopped; then the store writer commits what it holds
        return self.result

    def _begin(self) -> None:
        logger.info("worker %s serving the queue at %s", self.id, redact(self.config.redis_url))
        done = self.loop.start(TICK_S, now=True)
        done.addErrback(lambda failure: self._stop(EXIT_FAILED, f"worker loop failed: {failure.getErrorMessage()}"))

    def _on_signal(self, signum: int, _frame) -> None:
        install_shutdown_handlers(lambda *_: self.reactor.callFromThread(self.reactor.stop))  # second signal: now
        self.reactor.callFromThread(self._stop, 0, None)

    def _stop(self, exit_code: int, message: str | None) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.result.exit_code, self.result.message = exit_code, message
        if self.loop.running:
            self.loop.stop()
        logger.info("worker %s stopping", self.id)
        self.core.stop_crawls().addBoth(self._finish)  # crawlers close as "shutdown": their requests go back
        if exit_code:
            self.reactor.callLater(FAILED_STOP_GRACE_S, self._finish, None)

    def _finish(self, _result) -> None:
        if self.finished:
            return
        self.finished = True
        try:
            self._deregister()
        except redis.RedisError:
            pass  # Redis is gone: its records of this worker expire or are reaped later
        self.reactor.stop()

    # ---- one tick --------------------------------------------------------
    def _tick(self) -> None:
        try:
            if server_identity(self.server) != self.identity:
                self._stop(EXIT_FAILED, f"Redis at {redact(self.config.redis_url)} restarted while this worker "
                                        "was serving it; queued and in-flight requests may be lost (the next "
                                        "round queues them again)")
                return
            now = monotonic()
            if now >= self.next_beat:
                self._check_store()
                self._beat()
                self._reap()
                self.next_beat = now + self.beat_every
            self._open_crawlers()
            self._check_idle(now)
        except redis.RedisError as exc:
            self._stop(EXIT_FAILED, f"lost Redis at {redact(self.config.redis_url)}: {describe(exc)}")
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            self._stop(EXIT_FAILED, f"cannot use the store: {reason}")

    def _check_store(self) -> None:
        """A store that stopped answering ends the worker (its requests go back to the queue)."""
        with self.db() as session:
            session.execute(select(1))

    def _beat(self) -> None:
        info = {"host": socket.gethostname(), "pid": os.getpid(), "sources": sorted(self.crawlers)}
        runs = self._open_runs()
        with self.server.pipeline() as pipe:
            pipe.set(heartbeat_key(self.id), json.dumps(info), px=round(self.config.heartbeat_ttl * 1000))
            pipe.sadd(WORKERS, self.id)
            pipe.delete(runs_key(self.id))
            if runs:
                pipe.sadd(runs_key(self.id), *runs)
            pipe.execute()

    def _open_runs(self) -> list[int]:
        from crawler.runrecord import CrawlRunRecorder

        runs = []
        for crawler in self.crawlers.values():
            recorder = crawler.get_extension(CrawlRunRecorder) if crawler.crawling else None
            if recorder is not None and recorder.run_id is not None:
                runs.append(recorder.run_id)
        return runs

    def _reap(self) -> None:
        """Put back what dead workers held; close their run rows."""
        for raw in self.server.smembers(WORKERS):
            other = raw.decode()
            if other == self.id or self.server.exists(heartbeat_key(other)):
                continue
            returned, dropped = requeue(self.server, other, died=True, max_deliveries=self.config.max_deliveries)
            for request in dropped:
                record_poisoned(self.server, self.db, request, f"{request.deliveries} workers died holding it")
            run_ids = [int(r) for r in self.server.smembers(runs_key(other))]
            if run_ids:
                self._close_runs(run_ids, f"interrupted: worker {other} stopped sending heartbeats")
            self.server.delete(runs_key(other), draining_key(other))
            if not self.server.exists(inflight_key(other)):
                self.server.srem(WORKERS, other)
            if returned or dropped or run_ids:
                logger.warning("worker %s died: %d requests back in the queue, %d dropped as poisoned, "
                               "%d runs closed as failed", other, returned, len(dropped), len(run_ids))

    def _close_runs(self, run_ids: list[int], message: str) -> None:
        with self.db.begin() as session:
            fail_running_runs(session, run_ids, message)

    def _open_crawlers(self) -> None:
        free = self.config.max_sources - len(self.crawlers)
        if self.stopping or free <= 0:
            return
        for raw in self.server.srandmember(PENDING, free * SAMPLE_FACTOR):
            source = raw.decode()
            if source in self.crawlers or not self._serves(source) or not queued(self.server, source):
                continue
            self._open(source)
            free -= 1
            if not free:
                return

    def _serves(self, source: str) -> bool:
        if source in self.spider_classes:
            return True
        if source not in self.not_served:
            self.not_served.add(source)
            logger.warning("source %s has queued requests but is not declared in this worker's sources; "
                           "leaving it to other workers", source)
        return False

    def _open(self, source: str) -> None:
        logger.info("worker %s: crawling %s", self.id, source)
        crawler = self.core.new_crawler(self.spider_classes[source])
        self.core.crawl(source, crawler).addBoth(self._closed, source, crawler)

    def _closed(self, result, source: str, crawler: Crawler) -> None:
        spider = crawler.spider
        if spider is not None:
            stats = crawler.stats.get_stats()
            totals = self.result.totals
            totals["runs"] += 1
            for key, stat in (("new", "articles_new"), ("duplicate", "articles_duplicate"),
                              ("skipped", "articles_skipped")):
                totals[key] += int(stats.get(f"expowatch/{stat}", 0))
            totals["pages"] += int(stats.get("downloader/response_count", 0))
            totals["errors"] += len(getattr(spider, "errors", ()))
        if isinstance(result, Failure):
            self._stop(EXIT_FAILED, f"source {source}: the crawler failed: {result.getErrorMessage()}")

    def _check_idle(self, now: float) -> None:
        if self.config.until_idle is None or self.stopping:
            return
        if self.crawlers or self._work_left():
            self.idle_since = None
        elif self.idle_since is None:
            self.idle_since = now
        elif now - self.idle_since >= self.config.until_idle:
            logger.info("worker %s: idle for %g s, exiting", self.id, self.config.until_idle)
            self._stop(0, None)

    def _work_left(self) -> bool:
        """Requests queued for a source this worker serves, or in flight at any worker (maybe a dead one)."""
        pending = prune_pending(self.server, (raw.decode() for raw in self.server.smembers(PENDING)))
        if pending & self.spider_classes.keys():
            return True
        return any(self.server.hlen(inflight_key(raw.decode())) for raw in self.server.smembers(WORKERS))

    def _deregister(self) -> None:
        requeue(self.server, self.id, died=False, max_deliveries=self.config.max_deliveries)
        with self.server.pipeline() as pipe:
            pipe.delete(heartbeat_key(self.id), runs_key(self.id), draining_key(self.id))
            pipe.srem(WORKERS, self.id)
            pipe.execute()
