"""Crawls inside a warm, supervised crawl engine (crawler.engine): the scheduler's side.

EngineRunner has the interface of the subprocess runner (scheduler.runner.CrawlRunner):
run(source) blocks until the crawl has ended and returns its CrawlOutcome. It opens the
source's crawl_runs row itself and hands the id to the engine, so whatever happens the row
ends with an honest status:

- the crawl's own verdict when it ran its course;
- "timeout" when it ran past its timeout: the engine closes that crawl alone (reason
  "timeout"); if the crawl has not ended kill_grace seconds later the engine is replaced
  (killed), and the other runs it held are recorded failed, naming the stuck crawl;
- "failed" naming the cause when the engine died under the crawl (crash, OOM, kill -9),
  or when the crawl raised before it could record anything;
- "partial" when the scheduler's shutdown ended it.

A new engine takes the next crawls after a death. An engine is recycled after
recycle_after crawls or once its resident memory passes rss_limit: it takes no new crawls,
a fresh engine takes them, and it exits once its own have ended (every run is kept).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

from crawler.engine import protocol
from crawler.engine.protocol import EngineConfig
from storage.runs import INTERRUPTED_STATUS, RUNNING, end_run, get_run
from scheduler.runner import CrawlOutcome, RunnerConfig, SlotRunner, summarise
from spiders.sources import Source

logger = logging.getLogger(__name__)

DEFAULT_CRAWLS_AT_ONCE = 32  # small sources spend their crawl waiting on the network: many fit in one engine
DEFAULT_RECYCLE_AFTER = 1000  # crawls per engine before a fresh one takes over (bounds slow leaks)
DEFAULT_RSS_LIMIT_MB = 1024  # an engine above this resident memory is recycled between crawls
ENGINE_EXIT_WAIT = 60.0  # seconds a drained engine gets to commit and exit before it is killed


@dataclass(frozen=True)
class EngineSettings:
    """How engines are run and recycled."""

    recycle_after: int = DEFAULT_RECYCLE_AFTER
    rss_limit_mb: float = DEFAULT_RSS_LIMIT_MB
    max_requests: int | None = None  # None: crawler.engine.pace.DEFAULT_MAX_REQUESTS
    log_level: str = "WARNING"
    scrapy_settings: Mapping[str, object] = field(default_factory=dict)


@dataclass
class _Crawl:
    source: str
    run_id: int
    started: float
    engine: _Engine | None = None
    done: threading.Event = field(default_factory=threading.Event)
    close_reason: str | None = None
    error: str | None = None
    engine_lost: str | None = None  # why the engine ended under this crawl
    ended_by: str | None = None  # "timeout" or "shutdown": the scheduler ended it


class _Engine:
    """One engine process and the crawls it holds."""

    def __init__(self, number: int, command: list[str], on_exit: Callable[[_Engine, int], None]):
        self.number = number
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        start_new_session=True)
        self.pid = self.process.pid
        self.crawls: dict[int, _Crawl] = {}
        self.started_crawls = 0
        self.rss = 0
        self.peak_rss = 0
        self.cpu_ready: float | None = None  # CPU seconds the engine had used when it was ready
        self.cpu = 0.0
        self.finished_crawls = 0
        self.retiring = False
        self.lost: str | None = None  # set when the process ended
        self._send_lock = threading.Lock()
        self._on_exit = on_exit
        self._reader = threading.Thread(target=self._read, name=f"expowatch-engine-{self.pid}", daemon=True)
        self._reader.start()

    def send(self, op: str, **fields) -> bool:
        with self._send_lock:
            try:
                self.process.stdin.write(protocol.encode(op, **fields))
                self.process.stdin.flush()
                return True
            except (BrokenPipeError, ValueError, OSError):
                return False  # the engine is gone: the reader reports it

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            try:
                message = protocol.read_message(stream)
            except (ValueError, OSError) as exc:
                logger.error("crawl engine %d: unreadable reply: %s", self.pid, exc)
                continue
            if message is None:
                break
            self.rss = int(message.get("rss") or 0)
            self.peak_rss = max(self.peak_rss, int(message.get("peak_rss") or 0))
            self.cpu = float(message.get("cpu") or 0.0)
            if message["op"] == protocol.READY:
                self.cpu_ready = self.cpu
            elif message["op"] == protocol.FINISHED:
                self.finished_crawls += 1
                crawl = self.crawls.get(int(message["run"]))
                if crawl is not None:
                    crawl.close_reason, crawl.error = message.get("reason"), message.get("error")
                    crawl.done.set()
        code = self.process.wait()
        self._on_exit(self, code)

    def describe_usage(self) -> str:
        """Crawls run, CPU after start-up (per crawl) and peak memory, for the log."""
        crawls = self.finished_crawls
        steady = self.cpu - (self.cpu_ready or 0.0)
        per_crawl = f" ({steady / crawls * 1000:.1f} ms per crawl)" if crawls else ""
        return (f"{crawls} crawl(s), {steady:.2f} s CPU after start-up{per_crawl}, start-up "
                f"{self.cpu_ready or 0.0:.2f} s CPU, peak resident memory {self.peak_rss / 1024 / 1024:.0f} MB")

    def kill(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def engine_command(config: EngineConfig) -> list[str]:
    return [sys.executable, "-m", "crawler.engine", config.to_json()]


def describe_exit(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class EngineRunner(SlotRunner):
    """Runs crawls in a supervised engine process, at most max_concurrent at once; see the module docstring."""

    def __init__(self, config: RunnerConfig, sources: Mapping[str, Source], engine: EngineSettings | None = None):
        super().__init__(config, sources)
        self.engine_settings = engine or EngineSettings()
        self._engines: list[_Engine] = []
        self._current: _Engine | None = None
        self._numbered = 0
        self.engines_started = 0  # engine processes started so far (recycled and replaced ones count)
        self._engine_config = EngineConfig(
            db_url=config.db_url, sources_file=str(config.sources_file) if config.sources_file else None,
            log_level=self.engine_settings.log_level, settings=dict(self.engine_settings.scrapy_settings),
            **({"max_requests": self.engine_settings.max_requests} if self.engine_settings.max_requests else {}),
        )

    # ---- the service's view ------------------------------------------------
    def engine_pids(self) -> list[int]:
        """The pids of the engine processes alive now."""
        with self._cond:
            return [e.pid for e in self._engines if e.lost is None]

    def end_all(self, reason: str = "shutdown") -> None:
        """Close every running crawl (reason), kill the engines that have not closed them after kill_grace."""
        with self._cond:
            active = list(self._active.values())
        for crawl in active:
            crawl.ended_by = crawl.ended_by or reason
            if crawl.engine is not None:
                crawl.engine.send(protocol.CLOSE, run=crawl.run_id, reason=reason)
        if not self.wait_idle(self.config.kill_grace):
            with self._cond:
                engines = {id(c.engine): c.engine for c in self._active.values() if c.engine is not None}
            for engine in engines.values():
                logger.warning("crawl engine %d did not close its crawls within %g s: killing it",
                               engine.pid, self.config.kill_grace)
                engine.kill()
            self.wait_idle(None)

    def close(self) -> None:
        """Let every engine finish and exit (committing what its store writer holds); kill stragglers."""
        with self._cond:
            engines = [e for e in self._engines if e.lost is None]
            self._current = None
        for engine in engines:
            engine.send(protocol.DRAIN, reason=None)
            engine.process.stdin.close()
        for engine in engines:
            try:
                engine.process.wait(ENGINE_EXIT_WAIT)
            except subprocess.TimeoutExpired:
                logger.warning("crawl engine %d did not exit within %g s: killing it", engine.pid, ENGINE_EXIT_WAIT)
                engine.kill()
                engine.process.wait()

    # ---- one crawl ---------------------------------------------------------
    def _new_entry(self, source: str) -> _Crawl:
        return _Crawl(source, run_id=0, started=time.monotonic())

    def _crawl(self, crawl: _Crawl) -> CrawlOutcome:
        crawl.run_id, resume = self._open_run(crawl.source)
        with self._cond:
            if crawl.ended_by or not self._accepting:
                crawl.ended_by = crawl.ended_by or "shutdown"
                engine = None
            else:
                engine = self._engine_for_next_crawl()
                engine.crawls[crawl.run_id] = crawl
                engine.started_crawls += 1
                crawl.engine = engine
        if engine is None:
            return self._close_run(crawl)
        if not engine.send(protocol.CRAWL, run=crawl.run_id, source=crawl.source, resume=resume):
            crawl.engine_lost = crawl.engine_lost or "the crawl engine was gone before the crawl could start"
            crawl.done.set()
        logger.info("%s: crawl started (run %d, pid %d)", crawl.source, crawl.run_id, engine.pid)
        if not crawl.done.wait(self.config.timeout):
            crawl.ended_by = crawl.ended_by or "timeout"
            engine.send(protocol.CLOSE, run=crawl.run_id, reason="timeout")
            if not crawl.done.wait(self.config.kill_grace):
                logger.error("%s: crawl engine %d could not close the crawl within %g s of its timeout: "
                             "replacing the engine", crawl.source, engine.pid, self.config.kill_grace)
                self._replace(engine, f"replaced: the crawl of {crawl.source} (run {crawl.run_id}) "
                                      f"could not be closed after its timeout")
                crawl.done.wait()
        with self._cond:
            engine.crawls.pop(crawl.run_id, None)
            self._maybe_retire(engine)
        return self._close_run(crawl)

    # ---- engines -----------------------------------------------------------
    def _engine_for_next_crawl(self) -> _Engine:
        """The engine taking new crawls (started if there is none). Called with _cond held."""
        engine = self._current
        if engine is not None and engine.started_crawls >= self.engine_settings.recycle_after:
            self._retire(engine, f"after {engine.started_crawls} crawls")
        if engine is None or engine.lost is not None or engine.retiring:
            self._numbered += 1
            self.engines_started += 1
            engine = _Engine(self._numbered, engine_command(self._engine_config), self._engine_exited)
            self._engines.append(engine)
            self._current = engine
            logger.info("crawl engine %d started (pid %d)", engine.number, engine.pid)
        return engine

    def _maybe_retire(self, engine: _Engine) -> None:
        """Recycle an engine past its crawl count or memory limit. Called with _cond held."""
        if engine.lost is None and not engine.retiring:
            settings = self.engine_settings
            why = None
            if engine.started_crawls >= settings.recycle_after:
                why = f"after {engine.started_crawls} crawls"
            elif engine.rss > settings.rss_limit_mb * 1024 * 1024:
                why = f"at {engine.rss / 1024 / 1024:.0f} MB resident (limit {settings.rss_limit_mb:g} MB)"
            if why:
                self._retire(engine, why)
        if engine.retiring and not engine.crawls and engine.lost is None:
            engine.send(protocol.DRAIN, reason=None)

    def _retire(self, engine: _Engine, why: str) -> None:
        """No new crawls for engine; it exits once its crawls have ended. Called with _cond held."""
        engine.retiring = True
        if self._current is engine:
            self._current = None
        logger.info("crawl engine %d (pid %d) recycled %s: a fresh engine takes the next crawls",
                    engine.number, engine.pid, why)
        if not engine.crawls:
            engine.send(protocol.DRAIN, reason=None)

    def _replace(self, engine: _Engine, why: str) -> None:
        with self._cond:
            engine.retiring = True
            if self._current is engine:
                self._current = None
            for crawl in engine.crawls.values():
                crawl.engine_lost = crawl.engine_lost or why
        engine.kill()

    def _engine_exited(self, engine: _Engine, code: int) -> None:
        """The engine process ended (its reader thread): every crawl it still held has lost it."""
        with self._cond:
            engine.lost = describe_exit(code)
            if self._current is engine:
                self._current = None
            self._engines.remove(engine)
            orphans = [c for c in engine.crawls.values() if not c.done.is_set()]
            for crawl in orphans:
                crawl.engine_lost = crawl.engine_lost or f"the crawl engine (pid {engine.pid}) died ({engine.lost})"
                crawl.done.set()
            self._cond.notify_all()
        if orphans:
            logger.error("crawl engine %d (pid %d) ended (%s) holding %d crawl(s): %s; a new engine takes the "
                         "next crawls", engine.number, engine.pid, engine.lost, len(orphans),
                         ", ".join(c.source for c in orphans))
        elif code != 0:
            logger.warning("crawl engine %d (pid %d) ended (%s)", engine.number, engine.pid, engine.lost)
        else:
            logger.info("crawl engine %d (pid %d) exited: %s", engine.number, engine.pid, engine.describe_usage())
        for stream in (engine.process.stdin, engine.process.stdout):
            try:
                stream.close()
            except OSError:
                pass

    # ---- the record ----------------------------------------------------------
    def _close_run(self, crawl: _Crawl) -> CrawlOutcome:
        """Give the run row its final status and describe the outcome."""
        seconds = time.monotonic() - crawl.started
        run_id = crawl.run_id
        with self._db() as session:
            run = get_run(session, run_id)
        if run is None or run.status in (RUNNING, INTERRUPTED_STATUS) or crawl.ended_by == "timeout":
            run = self._end_run(crawl, seconds)
        status = run.status if run else "failed"
        tail = tuple(filter(None, [crawl.error, crawl.engine_lost]))
        return CrawlOutcome(crawl.source, status, run_id=run_id, seconds=seconds, ended_by=crawl.ended_by,
                            summary=summarise(run) if run else "", output_tail=tail)

    def _end_run(self, crawl: _Crawl, seconds: float):
        """Close the run row the crawl left open (or overrule it: a timeout); returns it as now recorded.

        Most crawls record their own result: _close_run then only reads it, and takes no write lock."""
        run_id = crawl.run_id
        with self._db.begin() as session:
            if crawl.ended_by == "timeout":
                how = f"; {crawl.engine_lost}" if crawl.engine_lost else " (closed in the engine)"
                end_run(session, run_id, "timeout",
                        f"timed out after {self.config.timeout:g} s: the scheduler ended the crawl{how}")
            elif crawl.ended_by == "shutdown":
                end_run(session, run_id, "partial", f"ended at scheduler shutdown after {seconds:.0f} s",
                        only_if_running=True)
            elif crawl.engine_lost:
                end_run(session, run_id, "failed", f"interrupted: {crawl.engine_lost}", only_if_running=True)
            else:
                cause = crawl.error or f"the crawl ended ({crawl.close_reason or 'unknown reason'})"
                end_run(session, run_id, "failed", f"the crawl ended without recording a result: {cause}",
                        only_if_running=True)
        with self._db() as session:
            return get_run(session, run_id)
