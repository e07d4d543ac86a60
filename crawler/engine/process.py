"""The engine process: Scrapy's reactor, a CrawlerRunner, one crawler per "crawl" command.

Each crawl is a Crawler of the source's own spider class with the engine's settings plus
its run id (crawler.runrecord.RUN_ID_ENV), so it records the row the scheduler opened,
exactly as `expowatch crawl SOURCE` does under the subprocess runner. The reactor, the
runner and the warm extraction pool and store writer are the engine core's
(crawler.engine.core), which the distributed worker runs too; this module is the
scheduler's front end to it.

Commands arrive on stdin (a thread reads them and hands them to the reactor); the engine
answers on its original stdout, which it keeps for itself: fd 1 then points at stderr, so
nothing a library prints can corrupt the protocol. See crawler.engine.protocol.

SIGTERM: take no more crawls, close the running ones (reason "shutdown") so their runs
are recorded, then exit. SIGINT is ignored: a Ctrl-C at the terminal is the scheduler's
to handle. The end of stdin (the scheduler died) closes the crawls with "scheduler_gone".
"""

from __future__ import annotations

import gc
import json
import logging
import os
import resource
import signal
import sys
import threading
from typing import IO, Any, Callable

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from crawler.engine import protocol
from crawler.engine.protocol import EngineConfig
from crawler.engine.core import CrawlSettings, EngineCore, core_settings, import_components
from crawler.engine.pace import DEFAULT_MAX_REQUESTS, MAX_REQUESTS_SETTING, engine_limits
from crawler.engine.precheck import Outcome, Precheck, hand_over, pace_key, precheck_source, record_precheck
from crawler.runrecord import RESUME_SETTING, RUN_ID_ENV, RUN_SOURCE_SETTING, SCHEDULER_GONE
from storage.store import utcnow

logger = logging.getLogger(__name__)

HANDLER = "crawler.engine.pace.EngineDownloadHandler"
# With the scheduler gone nobody supervises the engine: crawls that have not closed this long
# after it are recorded failed here and the process ends, rather than lingering unsupervised.
ORPHAN_EXIT_S = 60.0
SHUTDOWN = "shutdown"
# Allocations between collections of the youngest generation (Python's default is 700): a crawl
# allocates tens of thousands of objects that mostly die with it; collecting less often is cheaper.
GC_YOUNG_THRESHOLD = 20000


def engine_settings(config: EngineConfig) -> CrawlSettings:
    """The project's crawl settings with the engine's shared limits switched on."""
    return core_settings(db_url=config.db_url, sources_file=config.sources_file,
                         events_file=config.events_file, log_level=config.log_level,
                         extract_workers=config.extract_workers, download_handler=HANDLER,
                         overrides={MAX_REQUESTS_SETTING: config.max_requests,
                           # Scrapy reads each callback's source to warn about `return` in a
                           # generator, again for every crawl (its cache holds bound methods
                           # weakly): a third of a small crawl's CPU. The crawl command warns.
                           "WARN_ON_GENERATOR_RETURN_VALUE": False,
                           # The run record keeps the stats; formatting them for a log
                           # line nobody reads costs more than the rest of a 304 crawl.
                           "STATS_DUMP": False,
                           # Per-crawl extensions an engine of thousands of crawls does
                           # without: a control HTTP server and timers for each crawl (the
                           # supervisor watches the engine's memory itself).
                           "REMOTE_CONTROL_ENABLED": False,
                           "MEMUSAGE_ENABLED": False,
                           "LOGSTATS_INTERVAL": 0,
                           **config.settings})


def resident_bytes() -> int:
    """This process's resident memory now (Linux /proc), or its peak where /proc is missing."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def usage() -> dict[str, float]:
    """What the engine reports with each message: resident memory now and at its peak (bytes), CPU seconds."""
    times = os.times()
    return {"rss": resident_bytes(), "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "cpu": round(times.user + times.system, 3)}


class CrawlEngine:
    """Runs the crawls it is told to, in this process's reactor; see the module docstring."""

    def __init__(self, core: EngineCore, replies: IO[bytes]):
        self.core = core
        self.settings = core.settings
        self.reactor = core.reactor
        self.replies = replies
        self.limits = engine_limits(self.settings.getint(MAX_REQUESTS_SETTING, DEFAULT_MAX_REQUESTS))
        self.close_reasons: dict[int, str] = {}  # run id -> why its spider closed
        self.opened: set[int] = set()  # runs whose spider has opened (every spider_opened handler ran)
        self.closing: dict[int, str] = {}  # run id -> close reason asked for before its spider opened
        self.precheck = Precheck(core.runner, self.settings, self.limits)
        self.prechecking: dict[int, tuple[Any, Any]] = {}  # run id -> (its source, started at) in its pre-check
        self.settled: dict[int, Deferred] = {}  # run id -> its pre-check's record, until committed
        self.orphaned = False  # the scheduler is gone: nobody reads the replies
        self.draining = False
        self.stopped = False

    @property
    def crawls(self) -> dict[int, Crawler]:
        """Run id -> its crawler, while it runs (the core's)."""
        return self.core.crawls

    # ---- commands (in the reactor thread) -----------------------------------
    def handle(self, message: dict[str, Any]) -> None:
        op = message["op"]
        if op == protocol.CRAWL:
            self.start(int(message["run"]), str(message["source"]), message.get("resume"))
        elif op == protocol.CLOSE:
            self.close(int(message["run"]), str(message.get("reason") or SHUTDOWN))
        elif op == protocol.DRAIN:
            self.drain(message.get("reason"))
        else:
            logger.error("crawl engine: unknown command %r", message)

    def start(self, run_id: int, source: str, resume: bool | None = None) -> None:
        """Start the run the scheduler opened for source: its pre-check (crawler.engine.precheck), then
        if needed its crawler. resume: whether the source's last crawl did not end ok, as the scheduler
        read it (None: the spider reads it itself)."""
        if self.draining:
            self.reply(run_id, None, "the crawl engine was stopping and did not start the crawl")
            return
        try:
            spidercls = self.core.runner.spider_loader.load(source)
            declared = precheck_source(spidercls, self.settings, resume)
        except Exception as exc:  # noqa: BLE001 - this source's failure, reported for its run only
            self.reply(run_id, None, f"{type(exc).__name__}: {exc}")
            return
        if declared is None:
            self.start_crawler(run_id, spidercls, resume)
            return
        self.prechecking[run_id] = (declared, utcnow())
        deferred_from_coro(self.precheck.check(run_id, declared)).addBoth(self.prechecked, run_id, spidercls, resume)

    def prechecked(self, outcome, run_id: int, spidercls: type, resume: bool | None) -> None:
        """A pre-check is over: record an unchanged run, or build the crawl with what it fetched."""
        self.limits.forget_crawl(pace_key(run_id))
        if run_id not in self.prechecking:
            return  # closed during its pre-check: recorded then
        declared, started_at = self.prechecking.pop(run_id)
        if isinstance(outcome, Failure):
            logger.error("run %d (%s): its pre-check failed (%s); crawling it", run_id, declared.name,
                         outcome.getErrorMessage())
            outcome = Outcome(why="the pre-check failed")
        if outcome.unchanged:
            self.settle(run_id, declared, started_at, outcome, "finished")
        else:  # (a drain with a reason has closed it already: one without lets accepted crawls run)
            logger.debug("run %d (%s): %s: building its crawl", run_id, declared.name, outcome.why)
            self.start_crawler(run_id, spidercls, resume, outcome.handed_over)

    def settle(self, run_id: int, declared, started_at, outcome: Outcome | None, reason: str) -> None:
        """Record a run that ended in its pre-check; tell the scheduler once it is committed."""
        recorded = record_precheck(self.settings.get("EXPOWATCH_DB_URL"), run_id, declared, started_at,
                                   outcome, reason)
        self.settled[run_id] = recorded
        recorded.addBoth(self.precheck_recorded, run_id, reason)

    def precheck_recorded(self, result, run_id: int, reason: str) -> None:
        self.settled.pop(run_id, None)
        error = None
        if isinstance(result, Failure):
            error = f"{result.type.__name__}: {result.getErrorMessage()}"
            logger.error("run %d: its pre-check could not be recorded: %s", run_id, error)
        self.reply(run_id, reason, error)
        if self.draining:
            self.stop_when_idle()

    def start_crawler(self, run_id: int, spidercls: type, resume: bool | None,
                      handed_over: dict | None = None) -> None:
        """Build and start the source's crawler for the run."""
        source = spidercls.name
        try:
            crawler = self.core.new_crawler(spidercls)
            if handed_over:
                hand_over(crawler, handed_over)
            # The run row was opened for this source: the recorder reads nothing when the spider opens.
            crawler.settings.set(RUN_ID_ENV, run_id, priority="cmdline")
            crawler.settings.set(RUN_SOURCE_SETTING, source, priority="cmdline")
            if resume is not None:
                crawler.settings.set(RESUME_SETTING, bool(resume), priority="cmdline")
        except Exception as exc:  # noqa: BLE001 - this source's failure, reported for its run only
            self.reply(run_id, None, f"{type(exc).__name__}: {exc}")
            return
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        self.core.crawl(run_id, crawler).addBoth(self.ended, run_id, crawler)

    def close(self, run_id: int, reason: str) -> None:
        """Close one crawl with reason (its run is recorded as usual); the others go on."""
        if run_id in self.prechecking:  # recorded closed now; its pre-check's requests are cancelled
            declared, started_at = self.prechecking.pop(run_id)
            self.limits.cancel_downloads(pace_key(run_id), reason)
            self.settle(run_id, declared, started_at, None, reason)
            return
        crawler = self.crawls.get(run_id)
        if crawler is None:
            return  # ended already: `ended` has reported it
        if run_id not in self.opened:
            self.closing[run_id] = reason  # closed once its spider is open (closing mid-open loses the record)
            return
        deferred_from_coro(crawler.engine.close_spider_async(reason=reason)).addErrback(
            lambda failure: logger.error("run %d: could not close its crawl: %s", run_id, failure.getErrorMessage()))
        # Scrapy's close waits for the downloads in flight: a site that never answers would hold it.
        cancelled = self.limits.cancel_downloads(id(crawler), reason)
        logger.info("run %d: closing its crawl (%s); %d download(s) in flight cancelled", run_id, reason, cancelled)

    def spider_opened(self, spider) -> None:
        for run_id, crawler in self.crawls.items():
            if crawler is spider.crawler:
                self.opened.add(run_id)
                if run_id in self.closing:  # after the other spider_opened handlers (the run recorder's)
                    self.reactor.callLater(0, self.close, run_id, self.closing.pop(run_id))

    def spider_closed(self, spider, reason: str) -> None:
        for run_id, crawler in self.crawls.items():
            if crawler is spider.crawler:
                self.close_reasons[run_id] = reason

    def drain(self, reason: str | None) -> None:
        """No more crawls; close the running ones with reason (if given); exit when none is left."""
        self.draining = True
        if reason:
            for run_id in [*self.crawls, *self.prechecking]:
                self.close(run_id, reason)
        self.stop_when_idle()

    def ended(self, result, run_id: int, crawler: Crawler) -> None:
        """The crawl is over (its deferred fired; the core no longer holds it): report it, whatever happened."""
        self.limits.forget_crawl(id(crawler))
        self.closing.pop(run_id, None)
        self.opened.discard(run_id)
        reason = self.close_reasons.pop(run_id, None)
        error = None
        if isinstance(result, Failure):
            error = f"{result.type.__name__}: {result.getErrorMessage()}"
            logger.error("run %d (%s): the crawl raised %s", run_id, crawler.spidercls.name, error)
        if self.orphaned:
            self.close_orphaned_run(run_id, error or f"the crawl ended ({reason or 'unknown reason'})")
        self.reply(run_id, reason, error)
        if self.draining:
            self.stop_when_idle()

    def close_orphaned_run(self, run_id: int, what: str) -> None:
        """With the scheduler gone, a run the crawl did not record is closed here (nobody else will)."""
        from sqlalchemy import update

        from storage.engine import resolve_db_url, session_factory
        from storage.models import CrawlRun
        from storage.store import utcnow

        message = f"the scheduler was gone and the crawl ended without recording a result: {what}"
        try:
            with session_factory(resolve_db_url(self.settings.get("EXPOWATCH_DB_URL"))).begin() as session:
                session.execute(update(CrawlRun).where(CrawlRun.id == run_id, CrawlRun.status == "running")
                                .values(status="failed", message=message, finished_at=utcnow()))
        except Exception as exc:  # noqa: BLE001 - the store itself is gone: nothing more to do
            logger.error("run %d: could not be closed: %s", run_id, exc)

    def reply(self, run_id: int, reason: str | None, error: str | None) -> None:
        self.send(protocol.encode(protocol.FINISHED, run=run_id, reason=reason, error=error, **usage()))

    def send(self, line: bytes) -> None:
        try:
            self.replies.write(line)
            self.replies.flush()
        except (BrokenPipeError, ValueError):  # the scheduler is gone: stdin's end closes the crawls
            pass

    def stop_when_idle(self) -> None:
        if not self.crawls and not self.prechecking and not self.settled and not self.stopped:
            self.stopped = True
            closing = self.precheck.close()
            if closing is None:
                self.reactor.stop()
            else:
                closing.addBoth(lambda _: self.reactor.stop())

    # ---- outside the reactor ----------------------------------------------
    def read_commands(self, commands: IO[bytes]) -> None:
        """In a thread: hand each command to the reactor; at the end of input, stop the crawls."""
        while True:
            try:
                message = protocol.read_message(commands)
            except ValueError as exc:
                logger.error("crawl engine: %s", exc)
                continue
            if message is None:
                self.reactor.callFromThread(self.scheduler_gone)
                return
            self.reactor.callFromThread(self.handle, message)

    def scheduler_gone(self) -> None:
        self.orphaned = True
        self.drain(SCHEDULER_GONE)
        if not self.stopped:
            self.reactor.callLater(ORPHAN_EXIT_S, self.give_up)

    def give_up(self) -> None:
        """Still running long after the scheduler went: record what is left as failed and end."""
        for run_id in [*self.crawls, *self.prechecking]:
            self.close_orphaned_run(run_id, f"the crawl did not close within {ORPHAN_EXIT_S:g} s")
        logger.error("crawl engine: %d crawl(s) did not close after the scheduler was gone; exiting",
                     len(self.crawls))
        os._exit(1)  # a crawl that cannot close cannot be waited for

    def on_sigterm(self, _signum, _frame) -> None:
        self.reactor.callFromThread(self.drain, SHUTDOWN)


def serve(config: EngineConfig, terminated: Callable[[], bool] = lambda: False) -> int:
    """Run an engine on this process's stdin/stdout until drained; returns the exit code.

    terminated: whether a SIGTERM arrived before this function installed its handler.
    """
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints go to the log, not the protocol
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    core = EngineCore(engine_settings(config))
    import_components(core.settings)  # before "ready": the scheduler counts the start-up apart from crawls
    # What start-up built lives as long as the engine: out of the collector's sight, each crawl's
    # garbage collections walk only what crawls made (a full collection walked all of it).
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    reactor = core.reactor
    engine = CrawlEngine(core, replies)
    signal.signal(signal.SIGTERM, engine.on_sigterm)
    if terminated():
        reactor.callWhenRunning(engine.drain, SHUTDOWN)
    # Unbuffered: a thread blocked in a buffered stdin's readline holds its lock, and the interpreter's
    # shutdown then aborts (SIGABRT) trying to take it. A raw file has no lock.
    commands = os.fdopen(os.dup(sys.stdin.fileno()), "rb", buffering=0)
    reader = threading.Thread(target=engine.read_commands, args=(commands,),
                              name="expowatch-engine-commands", daemon=True)
    reactor.callWhenRunning(reader.start)
    reactor.callWhenRunning(lambda: engine.send(protocol.encode(protocol.READY, pid=os.getpid(), **usage())))
    core.run()  # until drained; then the store writer commits what it holds
    return 0
