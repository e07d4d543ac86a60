"""The scheduler service end to end: real `expowatch schedule` processes crawling the replica web.

Schedules are 6-field cron lines (seconds first) given with --schedule-override, so runs
come seconds apart. The tests wait on the service's log lines, on process exit and on
the clock where a scenario needs time to pass (missed slots), never on fixed sleeps.
"""

from __future__ import annotations

import json
import os
import queue
import re
import select
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable

import pytest
from typer.testing import CliRunner

from crawler.cli import app
from crawler.replica import ReplicaWeb
from scheduler.service import open_job_store
from scheduler.triggers import parse_schedule
from storage.engine import session_factory
from storage.runs import list_runs

pytestmark = pytest.mark.integration

WAIT = 90  # seconds any single expected log line may take on a loaded CI machine


@pytest.fixture
def web():
    with ReplicaWeb() as replica:
        yield replica


def sources_file(web: ReplicaWeb, path: Path, enabled: Iterable[str]) -> Path:
    """The replica's declarations with only the named sources enabled."""
    enabled = set(enabled)
    header, *blocks = web.sources_toml().split("[[source]]")
    for i, block in enumerate(blocks):
        name = re.search(r'^name = "([^"]+)"', block, re.M).group(1)
        if name not in enabled:
            blocks[i] = block.replace("enabled = true", "enabled = false")
    path.write_text("[[source]]".join([header, *blocks]), encoding="utf-8")
    return path


class Service:
    """An `expowatch schedule` process whose log lines can be waited for."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen([sys.executable, "-m", "crawler.cli", "schedule", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.log: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, pattern: str, timeout: float = WAIT) -> re.Match:
        """Block until a log line matches pattern (fails if the service exits first)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no log line matching {pattern!r} within {timeout} s:\n" + self.text()) from None
            if line is None:
                raise AssertionError(f"service exited ({self.proc.wait()}) before {pattern!r}:\n" + self.text())
            self.log.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def stop(self, signum: int = signal.SIGTERM, timeout: float = WAIT) -> int:
        """Signal the service and wait for it to exit; returns its exit code."""
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout=timeout)
        self._reader.join()
        while (line := self._lines.get()) is not None:
            self.log.append(line)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code

    def text(self) -> str:
        return "\n".join(self.log)


def runs_of(db_url: str, source: str):
    with session_factory(db_url)() as session:
        return list(reversed(list_runs(session, sources=[source])))


def stored_next_run(db_url: str, source: str) -> datetime:
    store = open_job_store(db_url)
    store.start(paused=True)
    try:
        return store.get_job(f"crawl:{source}").next_run_time
    finally:
        store.shutdown()


def launches(service: Service, source: str) -> list[datetime]:
    """When the service started each crawl of source (from its log lines)."""
    found = []
    for line in service.log:
        match = re.match(rf"(\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d,\d+) INFO {re.escape(source)}: crawl started", line)
        if match:
            found.append(datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").astimezone())
    return found


def slot_delay(schedule: str, at: datetime) -> timedelta:
    """How long after the latest slot of schedule (at or before at) a crawl started."""
    trigger = parse_schedule(schedule)
    slot = trigger.get_next_fire_time(None, at - timedelta(seconds=60))
    latest = slot
    while slot is not None and slot <= at:
        latest, slot = slot, trigger.get_next_fire_time(slot, slot + timedelta(microseconds=1))
    return at - latest


def test_sources_run_on_their_own_schedules_a_failing_one_does_not_stop_the_other_and_sigterm_ends_cleanly(
        web, tmp_path, sqlite_url, cli_env):
    ok_site, down_site = "wimc-nanjing", "cq-daily"
    every = {ok_site: "0-59/4 * * * * *", down_site: "3-59/6 * * * * *"}  # even seconds / every 6 s on odd ones
    web.set_mode(down_site, "down")
    src = sources_file(web, tmp_path / "sources.toml", every)
    service = Service(["--db", sqlite_url, "--sources-file", str(src), "--grace", "60",
                       *[arg for site, cron in every.items() for arg in ("--schedule-override", f"{site}={cron}")]],
                      cli_env)
    service.wait_for("scheduler ready: 2 source")
    service.wait_for(rf"{down_site}: crawl failed")
    service.wait_for(rf"{ok_site}: crawl ok")
    service.wait_for(rf"{ok_site}: crawl started")  # the healthy source's next run, after the failure
    sent = time.monotonic()
    assert service.stop(signal.SIGTERM) == 0
    assert time.monotonic() - sent < 60  # within the grace period
    assert "taking no new crawls" in service.text() and "scheduler stopped" in service.text()

    ok_runs, down_runs = runs_of(sqlite_url, ok_site), runs_of(sqlite_url, down_site)
    assert len(ok_runs) >= 2 and len(down_runs) >= 1
    assert [r.status for r in ok_runs] == ["ok"] * len(ok_runs)  # the run SIGTERM met finished in its grace
    assert [r.status for r in down_runs] == ["failed"] * len(down_runs)
    assert "source unreachable" in down_runs[0].message and down_runs[0].errors
    assert ok_runs[-1].started_at > down_runs[0].finished_at
    assert ok_runs[0].articles_new == len([a for a in web.expected_articles() if a.site == ok_site])
    for site, runs in ((ok_site, ok_runs), (down_site, down_runs)):
        started = launches(service, site)
        assert len(started) == len(runs)
        for at in started:  # each crawl started right at one of its own slots
            assert slot_delay(every[site], at) < timedelta(seconds=2), (site, at, service.text())


def test_a_killed_service_catches_a_missed_run_up_once_on_restart_and_a_second_one_is_refused(
        web, tmp_path, sqlite_url, cli_env, run_cli):
    site = "wimc-nanjing"
    src = sources_file(web, tmp_path / "sources.toml", [site])
    first_slot = datetime.now(timezone.utc) + timedelta(seconds=14)  # after the first service is up
    slots = sorted({first_slot.second, (first_slot.second + 1) % 60})
    schedule = f"{','.join(map(str, slots))} * * * * *"  # two slots a second apart, then a minute later
    args = ["--db", sqlite_url, "--sources-file", str(src), "--schedule-override", f"{site}={schedule}"]

    first = Service(args, cli_env)
    first.wait_for("scheduler ready")
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL  # no clean shutdown: the job store is all there is
    assert "crawl started" not in first.text()

    # Let both slots pass while no scheduler runs (time passing is the scenario, not a sync).
    time.sleep(max(0.0, (first_slot + timedelta(seconds=1.5) - datetime.now(timezone.utc)).total_seconds()))
    restarted = Service(args, cli_env)
    restarted.wait_for("was missed while the scheduler was down: catching up once")
    restarted.wait_for(rf"{site}: crawl started")
    second = run_cli("schedule", *args)  # meanwhile: a second scheduler on the same store
    assert second.returncode == 1
    assert f"another expowatch scheduler is already running on {sqlite_url} (pid {restarted.proc.pid}" in second.stderr
    restarted.wait_for(rf"{site}: crawl ok")
    assert restarted.stop(signal.SIGTERM) == 0

    runs = runs_of(sqlite_url, site)
    assert [r.status for r in runs] == ["ok"]  # two missed slots, one run
    assert "not started" not in restarted.text()  # and no second one attempted behind it
    next_run = stored_next_run(sqlite_url, site)
    assert next_run > runs[0].started_at and next_run.second == first_slot.second  # (slots wrap at :59)


def test_health_turns_red_when_pages_become_js_shells_and_when_a_source_goes_down(web, tmp_path, sqlite_url, run_cli):
    shell_site, down_site = "prwire", "wimc-nanjing"
    src = sources_file(web, tmp_path / "sources.toml", [shell_site, down_site])

    def one_pass(*due: str):
        """A --once pass in which the named sources are due (their slot is every second)."""
        overrides = [arg for site in (shell_site, down_site)
                     for arg in ("--schedule-override", f"{site}={'* * * * * *' if site in due else '0 0 1 1 *'}")]
        return run_cli("schedule", "--once", "--db", sqlite_url, "--sources-file", str(src), *overrides)

    def health() -> tuple[int, dict[str, dict]]:
        result = CliRunner().invoke(app, ["health", "--format", "json", "--db", sqlite_url, "--sources-file", str(src)])
        return result.exit_code, {h["source"]: h for h in json.loads(result.stdout)}

    assert one_pass(shell_site, down_site).returncode == 0
    code, report = health()
    assert code == 0 and {h["status"] for h in report.values()} == {"ok"}

    web.set_mode(shell_site, "js_shell")
    web.set_mode(down_site, "down")
    assert any(url.startswith(web.sites[shell_site].base_url) for url in web.publish_next_round())
    assert one_pass(shell_site, down_site).returncode == 1  # the down source failed
    code, report = health()
    assert code == 1
    assert report[shell_site]["status"] == "unhealthy"
    assert "stopped yielding articles" in report[shell_site]["problems"][0]
    assert "js_shell 1" in report[shell_site]["problems"][0]
    assert report[down_site]["status"] == "warning"  # one failure can be a blip

    assert one_pass(down_site).returncode == 1
    code, report = health()
    assert code == 1
    assert report[down_site]["status"] == "unhealthy" and report[down_site]["consecutive_failures"] == 2
    assert "2 failed runs in a row" in report[down_site]["problems"][0]
    assert report[down_site]["last_success_at"] is not None


def test_once_runs_what_is_due_once_and_a_crawl_over_its_timeout_is_ended_and_recorded_as_timeout(
        web, tmp_path, sqlite_url, run_cli):
    site = "technews"
    src = sources_file(web, tmp_path / "sources.toml", [site])
    once = ["schedule", "--once", "-v", "--db", sqlite_url, "--sources-file", str(src), "--kill-grace", "30"]
    result = run_cli(*once, "--timeout", "1")  # a new source is due at once; a crawl cannot finish in 1 s
    assert result.returncode == 1
    assert f"source {site}: timeout" in result.stderr
    runs = runs_of(sqlite_url, site)
    assert [r.status for r in runs] == ["timeout"]
    assert runs[0].finished_at is not None and "timed out after 1 s" in runs[0].message
    result = run_cli(*once)  # the timed-out run was its run for this slot: nothing is due until the next
    assert result.returncode == 0 and "0 of 1 source(s) due" in result.stderr
    assert len(runs_of(sqlite_url, site)) == 1


def test_sigterm_during_a_pass_ends_the_crawl_cleanly_and_leaves_the_source_due(web, tmp_path, sqlite_url, cli_env):
    site = "technews"
    src = sources_file(web, tmp_path / "sources.toml", [site])
    one_pass = Service(["--once", "-v", "--grace", "0", "--db", sqlite_url, "--sources-file", str(src)], cli_env)
    one_pass.wait_for(rf"{site}: crawl started")
    assert one_pass.stop(signal.SIGTERM) == 1
    assert f"interrupted; due again at the next pass: {site}" in one_pass.text()
    [run] = runs_of(sqlite_url, site)
    assert run.status == "partial" and run.finished_at is not None  # nothing left "running"
    assert stored_next_run(sqlite_url, site) <= datetime.now(timezone.utc)


def test_a_crawl_whose_service_was_killed_stops_itself_and_records_why(web, tmp_path, sqlite_url, cli_env):
    site = "technews"
    src = sources_file(web, tmp_path / "sources.toml", [site])
    service = Service(["--db", sqlite_url, "--sources-file", str(src), "--schedule-override", f"{site}=* * * * * *"],
                      cli_env)
    pid = int(service.wait_for(rf"{site}: crawl started \(run \d+, pid (\d+)\)").group(1))
    crawl = os.pidfd_open(pid)
    try:
        assert service.stop(signal.SIGKILL) == -signal.SIGKILL
        ended, _, _ = select.select([crawl], [], [], WAIT)
        assert ended, "the crawl of a killed service is still running"
    finally:
        os.close(crawl)
    [run] = runs_of(sqlite_url, site)
    assert run.status == "partial" and "scheduler_gone" in run.message and run.finished_at is not None
