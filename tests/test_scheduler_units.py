"""Scheduler parts without crawls: schedules, the job plan, the job store, the lock, crash records."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from scheduler.lock import SchedulerLockedError, SchedulerLockError, scheduler_lock
from scheduler.runner import NOT_STARTED, CrawlRunner, RunnerConfig
from scheduler.service import (
    JOB_TABLE,
    ScheduleError,
    last_due_time,
    make_due_again,
    open_job_store,
    plan_jobs,
    sync_jobs,
)
from scheduler.triggers import crontab_weekdays, interval_of, parse_schedule
from spiders.sources import Source
from storage.engine import get_engine, session_factory
from storage.migrate import upgrade
from storage.runs import get_run

UTC = timezone.utc
SATURDAY = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)  # 1 June 2024 was a Saturday


def source(name: str, schedule: str = "0 * * * *", *, enabled: bool = True, tz: str = "UTC") -> Source:
    return Source(name=name, list_pages=("https://example.org/news/",), article_pattern="/news/",
                  schedule=schedule, timezone=tz, enabled=enabled)


def next_fire(expr: str, after: datetime, tz: str = "UTC") -> datetime:
    return parse_schedule(expr, tz).get_next_fire_time(None, after)


# ---- schedules --------------------------------------------------------------------------------

def test_five_field_lines_fire_on_the_minute_and_six_field_lines_on_the_second():
    assert next_fire("*/15 * * * *", datetime(2024, 6, 1, 12, 7, 30, tzinfo=UTC)) == datetime(2024, 6, 1, 12, 15, tzinfo=UTC)
    assert next_fire("*/5 * * * * *", datetime(2024, 6, 1, 12, 7, 31, tzinfo=UTC)) == datetime(2024, 6, 1, 12, 7, 35, tzinfo=UTC)


@pytest.mark.parametrize("weekday, expected_day", [
    ("1-5", 3),   # Monday 3 June, not Tuesday as APScheduler 3's own numbering would have it
    ("0", 2),     # Sunday
    ("7", 2),     # Sunday again
    ("6", 8),     # next Saturday: today's 09:00 has passed
    ("mon", 3),   # names pass through
])
def test_weekday_numbers_mean_what_they_mean_in_crontab(weekday, expected_day):
    assert next_fire(f"0 9 * * {weekday}", SATURDAY) == datetime(2024, 6, expected_day, 9, 0, tzinfo=UTC)


def test_weekday_ranges_and_steps_become_day_names():
    assert crontab_weekdays("1-5") == "mon,tue,wed,thu,fri"
    assert crontab_weekdays("*/2") == "sun,tue,thu,sat"
    assert crontab_weekdays("0,6") == "sun,sat"
    assert crontab_weekdays("sat-sun") == "sat-sun"


def test_schedules_run_in_the_source_time_zone():
    assert next_fire("0 9 * * *", SATURDAY, "Asia/Shanghai") == datetime(2024, 6, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert next_fire("0 9 * * *", SATURDAY, "Asia/Shanghai").astimezone(UTC).hour == 1


@pytest.mark.parametrize("expr, problem", [
    ("* * * *", "expected 5 fields"),
    ("0 9 * * 8", "out of range"),
    ("61 * * * *", "61"),
])
def test_bad_schedules_say_what_is_wrong(expr, problem):
    with pytest.raises(ValueError, match=problem):
        parse_schedule(expr)


def test_interval_is_the_longest_gap_between_runs():
    assert interval_of(parse_schedule("*/30 * * * *"), SATURDAY) == timedelta(minutes=30)
    assert interval_of(parse_schedule("0 9 * * 1-5"), SATURDAY) == timedelta(days=3)  # Friday to Monday


def test_last_due_time_is_the_newest_missed_slot():
    trigger = parse_schedule("*/10 * * * * *")
    first = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
    assert last_due_time(trigger, first, first + timedelta(seconds=25)) == first + timedelta(seconds=20)
    assert last_due_time(trigger, first, first) == first


# ---- the job plan -------------------------------------------------------------------------------

def test_every_enabled_source_gets_a_job_with_its_own_or_overridden_schedule():
    plan = plan_jobs([source("a", "*/5 * * * *"), source("b"), source("off", enabled=False)],
                     {"b": "*/2 * * * * *"})
    assert sorted(plan) == ["crawl:a", "crawl:b"]
    assert plan["crawl:a"].schedule == "*/5 * * * *"
    assert plan["crawl:b"].schedule == "*/2 * * * * *"


def test_a_bad_schedule_or_override_names_the_source():
    with pytest.raises(ScheduleError, match=r"source 'a': bad schedule '\* \* \*'"):
        plan_jobs([source("a")], {"a": "* * *"})
    with pytest.raises(ScheduleError, match="override for unknown source 'zz'"):
        plan_jobs([source("a")], {"zz": "* * * * *"})


# ---- the job store ------------------------------------------------------------------------------

@pytest.fixture
def store_url(db_url):
    upgrade(db_url)
    return db_url


@pytest.fixture
def sqlite_store(sqlite_url):
    upgrade(sqlite_url)
    return sqlite_url


def synced(url: str, plan, now: datetime, **kwargs):
    store = open_job_store(url)
    store.start(paused=True)
    try:
        return {job.id: job for job in sync_jobs(store, plan, now=now, **kwargs)}
    finally:
        store.shutdown()


def test_jobs_are_stored_as_a_function_reference_and_the_source_name(store_url):
    synced(store_url, plan_jobs([source("a")]), SATURDAY)
    store = open_job_store(store_url)
    store.start(paused=True)
    try:
        job = store.get_job("crawl:a")
        assert job.func_ref == "scheduler.jobs:run_scheduled_crawl"
        assert job.args == ("a",)
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 24 * 3600)
    finally:
        store.shutdown()
    with get_engine(store_url).connect() as conn:
        assert conn.execute(text(f"SELECT id FROM {JOB_TABLE}")).scalars().all() == ["crawl:a"]


def test_a_restart_keeps_the_stored_next_run_time_so_a_missed_run_stays_due(store_url):
    now = datetime.now(UTC)
    first = synced(store_url, plan_jobs([source("a", "*/5 * * * *")]), now)
    due = first["crawl:a"].next_run_time
    assert now < due <= now + timedelta(minutes=5)
    later = due + timedelta(minutes=12)  # the service was down over three slots
    again = synced(store_url, plan_jobs([source("a", "*/5 * * * *")]), later)
    assert again["crawl:a"].next_run_time == due  # still due: APScheduler runs it once (coalesce)


def test_a_changed_schedule_starts_at_its_next_slot_and_a_removed_source_loses_its_job(store_url):
    now = datetime.now(UTC)
    synced(store_url, plan_jobs([source("a", "*/5 * * * *"), source("b")]), now)
    later = now + timedelta(hours=3)
    again = synced(store_url, plan_jobs([source("a", "7 * * * *"), source("b", enabled=False)]), later)
    assert list(again) == ["crawl:a"]
    assert again["crawl:a"].next_run_time == next_fire("7 * * * *", later)
    with get_engine(store_url).connect() as conn:
        assert conn.execute(text(f"SELECT id FROM {JOB_TABLE}")).scalars().all() == ["crawl:a"]


def test_for_one_pass_a_new_source_is_due_now(store_url):
    now = datetime.now(UTC)
    jobs = synced(store_url, plan_jobs([source("a", "0 0 1 1 *")]), now, new_jobs_due=True)
    assert jobs["crawl:a"].next_run_time == now


def test_a_run_cut_short_by_a_shutdown_is_put_back_as_due(store_url):
    now = datetime.now(UTC)
    plan = plan_jobs([source("a", "*/5 * * * *"), source("b", "*/5 * * * *")])
    synced(store_url, plan, now)
    fired = now - timedelta(minutes=1)
    store = open_job_store(store_url)
    store.start(paused=True)
    try:
        assert make_due_again(store, {"crawl:a": fired}) == ["a"]
        assert make_due_again(store, {"crawl:a": now}) == []  # already due earlier
    finally:
        store.shutdown()
    again = synced(store_url, plan, now)
    assert again["crawl:a"].next_run_time == fired  # caught up at the next start
    assert again["crawl:b"].next_run_time > now


# ---- the lock -------------------------------------------------------------------------------------

def test_a_second_scheduler_on_the_same_store_is_refused_until_the_first_releases(db_url):
    first, second = scheduler_lock(db_url), scheduler_lock(db_url)
    first.acquire()
    try:
        with pytest.raises(SchedulerLockedError, match="another expowatch scheduler is already running on"):
            second.acquire()
    finally:
        first.release()
    second.acquire()
    second.release()


def test_a_sqlite_lock_names_its_holder_and_dies_with_its_process(sqlite_url):
    lock_path = scheduler_lock(sqlite_url).path
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys\n"
         f"fd = os.open({str(lock_path)!r}, os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "os.write(fd, b'pid %d' % os.getpid())\n"
         "print('locked', flush=True)\n"
         "sys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(SchedulerLockedError, match=rf"on {sqlite_url} \(pid {holder.pid}; lock file "):
            scheduler_lock(sqlite_url).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdin.close()
        holder.stdout.close()
    lock = scheduler_lock(sqlite_url)
    lock.acquire()  # no stale lock after a crash
    lock.release()


def test_an_in_memory_store_cannot_be_scheduled():
    with pytest.raises(SchedulerLockError, match="in-memory"):
        scheduler_lock("sqlite://")


# ---- crawls that end badly ------------------------------------------------------------------------

def test_a_crawl_that_dies_before_recording_leaves_a_failed_run_naming_the_cause(sqlite_store, tmp_path: Path,
                                                                                   cli_env, monkeypatch):
    for key in [k for k in os.environ if k.startswith("EXPOWATCH_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_DATA_HOME", cli_env["XDG_DATA_HOME"])
    missing = tmp_path / "gone.toml"  # the crawl process cannot read its sources file
    runner = CrawlRunner(RunnerConfig(db_url=sqlite_store, sources_file=str(missing)), {})
    outcome = runner.run("ghost")
    assert outcome.status == "failed" and outcome.exit_code == 1
    with session_factory(sqlite_store)() as session:
        run = get_run(session, outcome.run_id)
    assert run.status == "failed" and run.finished_at is not None
    assert "exited with code 1" in run.message and "gone.toml" in run.message


def test_a_stopping_runner_starts_nothing(sqlite_store):
    runner = CrawlRunner(RunnerConfig(db_url=sqlite_store), {})
    runner.stop_accepting()
    assert runner.run("a").status == NOT_STARTED
    assert runner.wait_idle(0)
