"""Crawls as supervised subprocesses: `expowatch crawl SOURCE`, a timeout, a global limit.

The runner opens the source's crawl_runs row itself and hands its id to the crawl
(crawler.runrecord.RUN_ID_ENV), so whatever happens to the process the row ends
with an honest status: the crawl's own verdict, "timeout" when the runner ended it
for taking too long, "failed" when it died without recording anything.

Ending a crawl is SIGTERM first (Scrapy stops taking requests, finishes the ones in
flight and closes the spider, so pipelines flush and the row is written), then
SIGKILL for the whole process group after kill_grace seconds. Each crawl runs in a
session of its own, so a Ctrl-C at the terminal reaches the service, which decides.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Mapping

from sqlalchemy import select

from spiders.sources import Source
from storage.engine import session_factory
from storage.models import SourceRow
from storage.runs import RUN_ID_ENV, SCHEDULER_PID_ENV, end_run, get_run, previous_run_unfinished, start_run
from storage.store import ensure_source

logger = logging.getLogger(__name__)

DEFAULT_MAX_CONCURRENT = 2  # crawls at once: each is a process plus its extraction workers
DEFAULT_TIMEOUT = 3600.0  # seconds; a crawl of one news site that takes an hour is stuck
DEFAULT_KILL_GRACE = 10.0  # seconds between SIGTERM and SIGKILL: Scrapy closes in well under that
OUTPUT_TAIL_LINES = 20  # lines of a crawl's output kept for the log when it fails

NOT_STARTED = "not_started"  # the runner stopped before the crawl got a slot


@dataclass(frozen=True)
class RunnerConfig:
    """How crawls are started and supervised."""

    db_url: str
    sources_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    kill_grace: float = DEFAULT_KILL_GRACE
    max_concurrent: int = DEFAULT_MAX_CONCURRENT


@dataclass(frozen=True)
class CrawlOutcome:
    """How one supervised crawl ended."""

    source: str
    status: str  # ok | partial | failed | timeout | not_started
    run_id: int | None = None
    exit_code: int | None = None
    seconds: float = 0.0
    ended_by: str | None = None  # None, "timeout" or "shutdown": the runner ended the crawl
    summary: str = ""
    output_tail: tuple[str, ...] = ()

    @property
    def completed(self) -> bool:
        """The crawl ran its course (whatever its verdict) without being cut short or skipped."""
        return self.status != NOT_STARTED and self.ended_by != "shutdown"


@dataclass
class _Active:
    source: str
    started: float
    process: subprocess.Popen | None = None
    ended_by: str | None = None
    killed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def crawl_command(source: str, config: RunnerConfig) -> list[str]:
    """The command line of one crawl: `expowatch crawl SOURCE` with the same store and sources file."""
    command = [sys.executable, "-m", "crawler.cli", "crawl", source, "--db", config.db_url]
    if config.sources_file:
        command += ["--sources-file", str(config.sources_file)]
    return command


def summarise(run) -> str:
    """One line of counts for a recorded run."""
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(run.skip_reasons.items()))
    line = (f"{run.articles_new} new, {run.articles_duplicate} duplicate, {run.articles_skipped} skipped"
            f"{f' ({reasons})' if reasons else ''}, {len(run.errors)} errors, {run.pages_fetched} pages")
    return f"{line}; {run.message}" if run.message else line


class SlotRunner:
    """What every runner shares: one crawl per source at a time, at most max_concurrent at once, each
    crawl's run row opened before it starts. A runner says how to hold a crawl (_new_entry) and how to
    run it (_crawl)."""

    def __init__(self, config: RunnerConfig, sources: Mapping[str, Source]):
        if config.max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {config.max_concurrent}")
        self.config = config
        self.sources = sources
        self._db = session_factory(config.db_url)
        self._source_ids: dict[str, int] = {}  # source name -> its row's id
        self._cond = threading.Condition()
        self._active: dict = {}  # source -> the runner's entry for its crawl
        self._waiting = 0
        self._accepting = True

    # ---- the service's view ------------------------------------------------
    def running(self) -> list[str]:
        """Sources being crawled now."""
        with self._cond:
            return list(self._active)

    def stop_accepting(self) -> None:
        """Start no more crawls; crawls waiting for a slot return NOT_STARTED."""
        with self._cond:
            self._accepting = False
            self._cond.notify_all()

    def wait_idle(self, timeout: float | None) -> bool:
        """Wait until no crawl runs or waits (True), or timeout seconds pass (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._active and not self._waiting, timeout)

    # ---- one crawl ---------------------------------------------------------
    def run(self, source: str) -> CrawlOutcome:
        """Crawl one source once a slot is free; blocks until it has ended."""
        with self._cond:
            if source in self._active:
                return CrawlOutcome(source, NOT_STARTED, summary="a crawl of this source is already running")
            self._waiting += 1
            try:
                self._cond.wait_for(lambda: not self._accepting or len(self._active) < self.config.max_concurrent)
            finally:
                self._waiting -= 1
            if not self._accepting:
                self._cond.notify_all()
                return CrawlOutcome(source, NOT_STARTED, summary="the service is stopping")
            entry = self._active[source] = self._new_entry(source)
        try:
            return self._crawl(entry)
        finally:
            with self._cond:
                del self._active[source]
                self._cond.notify_all()

    def _new_entry(self, source: str):
        raise NotImplementedError

    def _crawl(self, entry) -> CrawlOutcome:
        raise NotImplementedError

    def _open_run(self, source: str) -> tuple[int, bool]:
        """Open the source's run row; returns its id and whether the source's previous crawl did not
        end ok (the crawl then pages to the end to resume it: spiders.generic)."""
        declared = self.sources.get(source)
        with self._db.begin() as session:
            if not self._source_ids:  # a source row is never renumbered: every known one read once per runner
                self._source_ids.update(session.execute(select(SourceRow.name, SourceRow.id)).all())
            source_id = self._source_ids.get(source)
            if source_id is None:  # a new source: its row is made once
                source_id = self._source_ids[source] = ensure_source(
                    session, source, homepage=declared.homepage if declared else None,
                    language=declared.language if declared else None,
                    timezone_name=declared.timezone if declared else "UTC")
            unfinished = previous_run_unfinished(session, source)
            return start_run(session, source_id), unfinished


class CrawlRunner(SlotRunner):
    """Runs crawls in subprocesses, at most max_concurrent at once, each under a timeout."""

    def close(self) -> None:
        """Nothing to release: each crawl's process ended with it."""

    def end_all(self, reason: str = "shutdown") -> None:
        """End every running crawl: SIGTERM, then SIGKILL after kill_grace; returns when all are gone."""
        with self._cond:
            active = list(self._active.values())
        for entry in active:
            self._signal(entry, signal.SIGTERM, reason)
        if not self.wait_idle(self.config.kill_grace):
            with self._cond:
                active = list(self._active.values())
            for entry in active:
                self._signal(entry, signal.SIGKILL, reason)
            self.wait_idle(None)

    def _new_entry(self, source: str) -> _Active:
        return _Active(source, time.monotonic())

    def _crawl(self, entry: _Active) -> CrawlOutcome:
        with entry.lock:
            if entry.ended_by or not self._accepting:
                return CrawlOutcome(entry.source, NOT_STARTED, summary="the service is stopping")
            run_id, _unfinished = self._open_run(entry.source)  # the crawl process asks itself
            env = {**os.environ, RUN_ID_ENV: str(run_id), SCHEDULER_PID_ENV: str(os.getpid())}
            try:
                entry.process = subprocess.Popen(
                    crawl_command(entry.source, self.config), env=env, stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                    start_new_session=True,
                )
            except OSError as exc:
                with self._db.begin() as session:
                    end_run(session, run_id, "failed", f"the crawl process could not be started: {exc}")
                return CrawlOutcome(entry.source, "failed", run_id=run_id, summary=f"could not start: {exc}")
            logger.info("%s: crawl started (run %d, pid %d)", entry.source, run_id, entry.process.pid)
        process = entry.process
        try:
            output, _ = process.communicate(timeout=self.config.timeout)
        except subprocess.TimeoutExpired:
            self._signal(entry, signal.SIGTERM, "timeout")
            try:
                output, _ = process.communicate(timeout=self.config.kill_grace)
            except subprocess.TimeoutExpired:
                self._signal(entry, signal.SIGKILL, "timeout")
                output, _ = process.communicate()
        return self._close_run(entry, run_id, process.returncode, output or "")

    def _signal(self, entry: _Active, signum: int, reason: str) -> None:
        """Send signum to a crawl (SIGKILL: to its whole process group); remembers why it was ended."""
        with entry.lock:
            process = entry.process
            if process is not None and process.poll() is not None:
                return
            entry.ended_by = entry.ended_by or reason
            if process is None:
                return  # not started yet: _crawl sees ended_by and does not start it
            try:
                if signum == signal.SIGKILL:
                    entry.killed = True
                    os.killpg(process.pid, signal.SIGKILL)
                else:
                    process.send_signal(signum)
            except ProcessLookupError:
                pass

    def _close_run(self, entry: _Active, run_id: int, exit_code: int, output: str) -> CrawlOutcome:
        """Give the run row its final status and describe the outcome."""
        seconds = time.monotonic() - entry.started
        tail = tuple(deque((line for line in output.splitlines() if line.strip()), maxlen=OUTPUT_TAIL_LINES))
        how = "SIGKILL after SIGTERM" if entry.killed else "SIGTERM"
        with self._db.begin() as session:
            if entry.ended_by == "timeout":
                end_run(session, run_id, "timeout",
                        f"timed out after {self.config.timeout:g} s: the scheduler ended the crawl ({how})")
            elif entry.ended_by == "shutdown":
                end_run(session, run_id, "partial",
                        f"ended at scheduler shutdown after {seconds:.0f} s ({how})", only_if_running=True)
            else:
                last = tail[-1] if tail else "no output"
                end_run(session, run_id, "failed",
                        f"the crawl process exited with code {exit_code} without recording a result: {last}",
                        only_if_running=True)
        with self._db() as session:
            run = get_run(session, run_id)
        status = run.status if run else "failed"
        return CrawlOutcome(entry.source, status, run_id=run_id, exit_code=exit_code, seconds=seconds,
                            ended_by=entry.ended_by, summary=summarise(run) if run else "",
                            output_tail=tail)
