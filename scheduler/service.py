"""The scheduler service: one APScheduler job per enabled source, crawls in a warm engine.

Due sources are crawled inside one long-lived, supervised crawl engine process
(scheduler.supervisor.EngineRunner, crawler.engine), or, with process_per_crawl, each in
an `expowatch crawl` subprocess of its own (scheduler.runner.CrawlRunner).

Jobs live in the store's own database (SQLAlchemyJobStore), so a restart keeps each
source's next run time: a run missed while the service was down is caught up once
(coalesced), not once per missed slot, and not at all if it is older than the
misfire grace. A job whose source and schedule are unchanged keeps its stored next
run time; a changed schedule starts from its next slot; a source that is gone or
disabled loses its job.

SIGTERM / SIGINT: no new crawls start; running ones get shutdown_grace seconds to
finish, then are ended (SIGTERM, then SIGKILL). A run that fired but could not
finish is put back as due, so the next start catches it up. A second signal ends
the running crawls at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor as ThreadPool
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_SCHEDULER_STARTED,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from scheduler import jobs
from scheduler.lock import scheduler_lock
from scheduler.runner import NOT_STARTED, CrawlOutcome, CrawlRunner, RunnerConfig
from scheduler.supervisor import EngineRunner, EngineSettings
from scheduler.triggers import parse_schedule
from spiders.sources import Source
from storage.engine import make_engine

logger = logging.getLogger(__name__)


def process_cpu() -> float:
    """CPU seconds this process has used (every thread; child processes not included)."""
    times = os.times()
    return times.user + times.system


JOB_TABLE = "apscheduler_jobs"  # APScheduler's own table, created by its job store
JOB_ID_PREFIX = "crawl:"
ALERTS_JOBSTORE = "alerts"  # digest jobs live in memory: each rule's last digest time is in the store
# A run missed while the service was down is caught up if its slot is less than a day old:
# a day-old crawl still finds what the list pages show; older slots wait for the next one.
DEFAULT_MISFIRE_GRACE = 24 * 3600
DEFAULT_SHUTDOWN_GRACE = 60.0  # seconds running crawls get to finish after SIGTERM


class ScheduleError(ValueError):
    """A source's schedule cannot be used; the message names the source and the schedule."""


@dataclass(frozen=True)
class ServiceConfig:
    """Everything the service needs besides the sources."""

    runner: RunnerConfig
    misfire_grace: int = DEFAULT_MISFIRE_GRACE
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE
    schedule_overrides: Mapping[str, str] = field(default_factory=dict)
    redis_url: str | None = None  # distributed mode: queue due sources for workers instead of crawling
    alerts: Any = None  # a crawler.alerts.service.AlertService: a pass after each crawl, digests on their cron
    engine: EngineSettings | None = field(default_factory=EngineSettings)  # None: a process per crawl


@dataclass(frozen=True)
class PlannedJob:
    """One source's job: its schedule and trigger."""

    source: str
    schedule: str
    timezone: str
    trigger: CronTrigger

    @property
    def job_id(self) -> str:
        return JOB_ID_PREFIX + self.source


def plan_jobs(sources: Iterable[Source], overrides: Mapping[str, str] | None = None) -> dict[str, PlannedJob]:
    """The job of every enabled source, keyed by job id; overrides replace schedules by source name."""
    overrides = dict(overrides or {})
    by_name = {s.name: s for s in sources}
    unknown = sorted(set(overrides) - set(by_name))
    if unknown:
        raise ScheduleError(f"schedule override for unknown source {unknown[0]!r}")
    plan: dict[str, PlannedJob] = {}
    for source in by_name.values():
        if not source.enabled:
            continue
        schedule = overrides.get(source.name, source.schedule)
        try:
            trigger = parse_schedule(schedule, source.timezone)
        except ValueError as exc:
            raise ScheduleError(f"source {source.name!r}: bad schedule {schedule!r}: {exc}") from None
        job = PlannedJob(source.name, schedule, source.timezone, trigger)
        plan[job.job_id] = job
    return plan


class _NoPassAfterShutdown:
    """APScheduler 3's main loop makes one more pass over the job store after shutdown (it checks
    the state before waiting, not after): that pass would submit due jobs to the stopped executor,
    advancing their next run times for runs that never happen, and reopen the disposed engine."""

    def _process_jobs(self):
        if self.state == STATE_STOPPED:
            return None
        return super()._process_jobs()


class ServiceScheduler(_NoPassAfterShutdown, BlockingScheduler):
    """The service's scheduler (foreground)."""


class JobStoreScheduler(_NoPassAfterShutdown, BackgroundScheduler):
    """A scheduler started paused: the stored jobs, read and changed, none run."""


SCHEDULED_CRAWL = f"{jobs.run_scheduled_crawl.__module__}:{jobs.run_scheduled_crawl.__qualname__}"  # a job's func_ref


def _same_trigger(a, b) -> bool:
    return type(a) is type(b) and repr(a) == repr(b)


def open_job_store(db_url: str, *, misfire_grace: int = DEFAULT_MISFIRE_GRACE, workers: int = 1,
                   scheduler_class: type[BaseScheduler] = JobStoreScheduler) -> BaseScheduler:
    """A scheduler on the store's job table (not started). Jobs default to coalesce, one instance
    at a time and the misfire grace."""
    store = SQLAlchemyJobStore(engine=make_engine(db_url), tablename=JOB_TABLE)
    return scheduler_class(
        jobstores={"default": store},
        executors={"default": ThreadPoolExecutor(max_workers=max(1, workers))},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": misfire_grace},
        timezone=timezone.utc,
    )


def sync_jobs(scheduler: BaseScheduler, plan: Mapping[str, PlannedJob], *, now: datetime,
              misfire_grace: int = DEFAULT_MISFIRE_GRACE, new_jobs_due: bool = False,
              report_missed: bool = True) -> list[Job]:
    """Make the stored jobs match the plan; returns the planned jobs as stored.

    An unchanged job keeps its stored next run time (a past one is a missed run, caught up
    once); a changed schedule starts at its next slot; a new job at its next slot, or now
    when new_jobs_due; a stored job not in the plan is removed.
    """
    stored = {job.id: job for job in scheduler.get_jobs() if job.id.startswith(JOB_ID_PREFIX)}
    kept: dict[str, Job] = {}  # stored exactly as planned: not written again (a pass syncs every job)
    for job_id, planned in plan.items():
        old = stored.pop(job_id, None)
        if old is not None and old.next_run_time is not None and _same_trigger(old.trigger, planned.trigger):
            next_run_time = old.next_run_time
            if next_run_time <= now and report_missed:
                logger.info("%s: run due %s was missed while the scheduler was down: catching up once",
                            planned.source, next_run_time.isoformat(timespec="seconds"))
            if _as_planned(old, planned.source, misfire_grace):
                kept[job_id] = old
                continue
        elif old is None and new_jobs_due:
            next_run_time = now
        else:
            next_run_time = planned.trigger.get_next_fire_time(None, now)
            if old is not None:
                logger.info("%s: schedule changed to %r (%s)", planned.source, planned.schedule, planned.timezone)
        scheduler.add_job(
            jobs.run_scheduled_crawl, trigger=planned.trigger, args=(planned.source,), id=job_id,
            name=planned.source, replace_existing=True, coalesce=True, max_instances=1,
            misfire_grace_time=misfire_grace, next_run_time=next_run_time,
        )
    for job_id, job in stored.items():
        logger.info("%s: no longer an enabled source: removing its job", job.name)
        scheduler.remove_job(job_id)
    return [kept.get(job_id) or scheduler.get_job(job_id) for job_id in plan]


def _as_planned(job: Job, source: str, misfire_grace: int) -> bool:
    """Whether a stored job (its trigger aside) is what sync_jobs would write for source."""
    return (job.func_ref == SCHEDULED_CRAWL and tuple(job.args) == (source,) and not job.kwargs
            and job.name == source and job.coalesce and job.max_instances == 1
            and job.misfire_grace_time == misfire_grace)


def make_due_again(scheduler: BaseScheduler, fired: Mapping[str, datetime]) -> list[str]:
    """Set each job's next run time back to when its run fired (job id -> time), unless it is due
    earlier already; returns the names of the jobs changed."""
    changed = []
    for job_id, when in fired.items():
        job = scheduler.get_job(job_id)
        if job is not None and (job.next_run_time is None or job.next_run_time > when):
            scheduler.modify_job(job_id, next_run_time=when)
            changed.append(job.name)
    return changed


def last_due_time(trigger, next_run_time: datetime, now: datetime) -> datetime:
    """The latest fire time at or before now, from a due next_run_time (what coalescing runs)."""
    last = next_run_time
    while True:
        following = trigger.get_next_fire_time(last, now)
        if following is None or following > now or following <= last:
            return last
        last = following


class SchedulerService:
    """The long-running service (serve) and the one-pass mode for system cron (run_once)."""

    def __init__(self, config: ServiceConfig, sources: Mapping[str, Source]):
        self.config = config
        self.plan = plan_jobs(sources.values(), config.schedule_overrides)
        if config.redis_url:
            from scheduler.enqueue import EnqueueRunner

            self.runner = EnqueueRunner(config.redis_url, sources)
        elif config.engine is not None:
            self.runner = EngineRunner(config.runner, sources, config.engine)
        else:
            self.runner = CrawlRunner(config.runner, sources)
        self._scheduler: BaseScheduler | None = None
        self._stop_requested = threading.Event()
        self._alerts_lock = threading.Lock()
        self._stopper: threading.Thread | None = None
        self._unfinished: dict[str, datetime] = {}  # job id -> when it fired, for runs cut short
        self._unfinished_lock = threading.Lock()

    def _job_store(self) -> BaseScheduler:
        """A paused scheduler: access to the stored jobs without running any."""
        scheduler = self._make_scheduler(JobStoreScheduler)
        scheduler.start(paused=True)
        return scheduler

    def _make_scheduler(self, cls: type[BaseScheduler]) -> BaseScheduler:
        return open_job_store(self.config.runner.db_url, misfire_grace=self.config.misfire_grace,
                              workers=min(len(self.plan), self.config.runner.max_concurrent), scheduler_class=cls)

    def _sync(self, scheduler: BaseScheduler, now: datetime, *, new_jobs_due: bool) -> list[Job]:
        return sync_jobs(scheduler, self.plan, now=now, misfire_grace=self.config.misfire_grace,
                         new_jobs_due=new_jobs_due, report_missed=not new_jobs_due)

    @property
    def stop_requested(self) -> bool:
        """A SIGTERM / SIGINT arrived: the service or pass is ending early."""
        return self._stop_requested.is_set()

    # ---- the service -------------------------------------------------------
    def serve(self) -> None:
        """Run until SIGTERM / SIGINT (blocking); holds the store's scheduler lock meanwhile."""
        lock = scheduler_lock(self.config.runner.db_url)
        lock.acquire()
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            store = self._job_store()
            try:
                planned = self._sync(store, datetime.now(timezone.utc), new_jobs_due=False)
            finally:
                store.shutdown()
            for job in planned:
                logger.info("%s: scheduled %r (%s), next run %s", job.name, self.plan[job.id].schedule,
                            self.plan[job.id].timezone, job.next_run_time.isoformat(timespec="seconds"))
            logger.info("scheduler ready: %d source(s), at most %d crawl(s) at once",
                        len(planned), self.config.runner.max_concurrent)
            scheduler = self._scheduler = self._make_scheduler(ServiceScheduler)
            scheduler.add_listener(self._on_job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
            scheduler.add_listener(self._on_started, EVENT_SCHEDULER_STARTED)
            self._schedule_digests(scheduler)
            jobs.bind(self)
            try:
                if not self._stop_requested.is_set():
                    scheduler.start()  # blocks until the stopper shuts it down
            finally:
                jobs.bind(None)
                if self._stopper is not None:
                    self._stopper.join()
            self.runner.close()
            self._put_back_unfinished()
            logger.info("scheduler stopped")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            lock.release()

    def run_job(self, source: str) -> CrawlOutcome:
        """One scheduled run (called by the job in an executor thread)."""
        fired = datetime.now(timezone.utc)
        outcome = self.runner.run(source)
        self.crawl_finished(outcome)
        if not outcome.completed:
            with self._unfinished_lock:
                self._unfinished.setdefault(JOB_ID_PREFIX + source, fired)
        return outcome

    def _put_back_unfinished(self) -> None:
        """Make runs that fired but were cut short by the shutdown due again, for the next start."""
        if not self._unfinished:
            return
        store = self._job_store()
        try:
            for source in make_due_again(store, self._unfinished):
                logger.info("%s: its run cut short by the shutdown is due again at the next start", source)
        finally:
            store.shutdown()

    # ---- stopping ----------------------------------------------------------
    def _on_signal(self, signum: int, _frame) -> None:
        name = signal.Signals(signum).name
        if self._stop_requested.is_set():
            logger.warning("%s again: ending running crawls now", name)
            threading.Thread(target=self.runner.end_all, name="expowatch-end-crawls", daemon=True).start()
            return
        logger.info("%s: taking no new crawls; running crawls get up to %g s to finish (%s)", name,
                    self.config.shutdown_grace, ", ".join(self.runner.running()) or "none running")
        self._stop_requested.set()
        self.runner.stop_accepting()
        scheduler = self._scheduler
        if scheduler is None:  # one pass: only the crawls to see to
            threading.Thread(target=self._end_after_grace, name="expowatch-stop", daemon=True).start()
        elif scheduler.state != STATE_STOPPED:
            self._begin_stop(scheduler)
        # else the service has not started its scheduler yet: _on_started stops it at once

    def _on_started(self, _event) -> None:
        if self._stop_requested.is_set() and self._stopper is None:
            self._begin_stop(self._scheduler)

    def _begin_stop(self, scheduler: BaseScheduler) -> None:
        scheduler.pause()
        self._stopper = threading.Thread(target=self._stop, args=(scheduler,), name="expowatch-stop")
        self._stopper.start()

    def _end_after_grace(self) -> None:
        if not self.runner.wait_idle(self.config.shutdown_grace):
            logger.warning("grace period of %g s is over: ending %s", self.config.shutdown_grace,
                           ", ".join(self.runner.running()))
            self.runner.end_all("shutdown")

    def _stop(self, scheduler: BaseScheduler) -> None:
        self._end_after_grace()
        scheduler.shutdown(wait=True)

    # ---- one pass, for system cron ------------------------------------------
    def run_once(self) -> list[CrawlOutcome]:
        """Crawl every due source once (new sources are due) and return; holds the lock meanwhile."""
        lock = scheduler_lock(self.config.runner.db_url)
        lock.acquire()
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            try:
                return self._once()
            finally:
                self.runner.close()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            lock.release()

    def _once(self) -> list[CrawlOutcome]:
        store = self._job_store()
        try:
            now = datetime.now(timezone.utc)
            due: list[Job] = []
            for job in self._sync(store, now, new_jobs_due=True):
                if job.next_run_time > now:
                    continue
                slot = last_due_time(job.trigger, job.next_run_time, now)
                if now - slot > timedelta(seconds=self.config.misfire_grace):
                    logger.warning("%s: run due %s is older than the misfire grace (%d s): skipped", job.name,
                                   slot.isoformat(timespec="seconds"), self.config.misfire_grace)
                    self._advance(store, job, now)
                else:
                    due.append(job)
            logger.info("one pass: %d of %d source(s) due: %s", len(due), len(self.plan),
                        ", ".join(job.name for job in due) or "none")
            # As many threads as crawls may run at once: each waits in runner.run for its crawl.
            workers = max(1, min(len(due), self.config.runner.max_concurrent))
            started = cpu = process_cpu()
            with ThreadPool(max_workers=workers, thread_name_prefix="expowatch-once") as pool:
                outcomes = list(pool.map(lambda job: self._once_job(store, job, now), due))
            if due:
                cpu = process_cpu() - cpu
                logger.info("one pass: %d crawl(s) ended; the scheduler's own CPU for them %.2f s (%.1f ms per "
                            "crawl: opening, watching and closing its run, advancing its job), before them %.2f s "
                            "(start-up and job sync)", len(due), cpu, cpu / len(due) * 1000, started)
            self.send_alerts()  # the digests due and what is left to send, once the pass is over
            return outcomes
        finally:
            store.shutdown()

    def _once_job(self, store: BaseScheduler, job: Job, now: datetime) -> CrawlOutcome:
        try:
            outcome = self.runner.run(job.name)
        except Exception as exc:  # the store went away mid-pass: this source's failure, not the pass's
            logger.exception("%s: could not run its crawl", job.name)
            return CrawlOutcome(job.name, "failed", summary=f"{type(exc).__name__}: {exc}")
        self.crawl_finished(outcome)
        if outcome.completed:
            self._advance(store, job, now)
        return outcome

    @staticmethod
    def _advance(store: BaseScheduler, job: Job, now: datetime) -> None:
        store.modify_job(job.id, next_run_time=job.trigger.get_next_fire_time(None, now))

    # ---- after a crawl --------------------------------------------------------
    def crawl_finished(self, outcome: CrawlOutcome) -> None:
        """Everything the service does once a crawl has ended and its run is recorded (in the
        crawl's thread, for the service and for one pass alike): the one place to hook work
        that follows a crawl, e.g. sending alerts for what it stored."""
        self._log_outcome(outcome)
        self.send_alerts()

    # ---- alerts --------------------------------------------------------------
    def send_alerts(self) -> None:
        """An alert pass (new matches, health changes, due digests, sending) after a crawl finished."""
        if self.config.alerts is None:
            return
        try:
            with self._alerts_lock:  # crawls end in several threads; one alert pass at a time
                report = self.config.alerts.run_pass()
        except Exception:  # noqa: BLE001 - alerts must not stop the crawls; the next pass replays this one
            logger.exception("alerts: the pass failed; the next one picks up where it stopped")
            return
        logger.info("alerts: %s", report.summary())
        for error in report.delivery.errors:
            logger.warning("alerts: %s", error)

    def _schedule_digests(self, scheduler: BaseScheduler) -> None:
        """One job per digest rule, on the rule's cron (an alert pass builds the digests that are due)."""
        if self.config.alerts is None:
            return
        scheduler.add_jobstore(MemoryJobStore(), ALERTS_JOBSTORE)
        for rule in self.config.alerts.digest_rules:
            scheduler.add_job(self.send_alerts, trigger=parse_schedule(rule.cron, rule.timezone),
                              id=f"digest:{rule.name}", name=f"digest {rule.name}", jobstore=ALERTS_JOBSTORE,
                              replace_existing=True, coalesce=True, max_instances=1,
                              misfire_grace_time=self.config.misfire_grace)

    # ---- reporting ---------------------------------------------------------
    def _on_job_event(self, event) -> None:
        source = event.job_id.removeprefix(JOB_ID_PREFIX)
        if event.code == EVENT_JOB_MISSED:
            logger.warning("%s: run due %s is older than the misfire grace (%d s): skipped", source,
                           event.scheduled_run_time.isoformat(timespec="seconds"), self.config.misfire_grace)
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            logger.warning("%s: previous crawl still running: this run is skipped", source)
        else:
            logger.error("%s: scheduled job failed: %r\n%s", source, event.exception, event.traceback)

    @staticmethod
    def _log_outcome(outcome: CrawlOutcome) -> None:
        if outcome.status == NOT_STARTED:
            logger.info("%s: crawl not started: %s", outcome.source, outcome.summary)
            return
        level = logging.INFO if outcome.status in ("ok", "partial") else logging.ERROR
        logger.log(level, "%s: crawl %s (run %s, %.1f s): %s", outcome.source, outcome.status,
                   outcome.run_id, outcome.seconds, outcome.summary)
        if level == logging.ERROR and outcome.output_tail:
            logger.error("%s: last output of the crawl:\n  %s", outcome.source, "\n  ".join(outcome.output_tail))
