"""The warm crawl engine under the scheduler, end to end: many sources on their own loopback
addresses (crawler.replica.small_sites), real engine processes, a real store.

Each site is its own host (127.0.1.x), so per-site politeness and robots.txt are per source
as in production. Tests wait on outcomes, log lines and process ends with deadlines.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crawler.replica.small_sites import SmallSites
from engine_spiders import BROKEN_SOURCE
from storage.runs import list_runs
from scheduler.runner import RunnerConfig
from scheduler.service import open_job_store
from scheduler.supervisor import EngineRunner, EngineSettings
from spiders.sources import load_sources
from storage.engine import session_factory
from storage.migrate import upgrade
from storage.models import Article

pytestmark = pytest.mark.integration

WAIT = 120  # seconds any one expected event may take on a loaded machine


def write_sources(sites: SmallSites, tmp_path: Path) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(sites.sources_toml(), encoding="utf-8")
    return path


def stored_articles(db_url: str) -> tuple[int, int]:
    """(articles, distinct canonical URLs) in the store."""
    with session_factory(db_url)() as session:
        return session.execute(select(func.count(), func.count(Article.canonical_url.distinct()))).one()


def runs(db_url: str) -> dict[str, list]:
    """Every run of every source, oldest first."""
    grouped: dict[str, list] = {}
    with session_factory(db_url)() as session:
        for run in reversed(list_runs(session)):
            grouped.setdefault(run.source, []).append(run)
    return grouped


def make_due(db_url: str, names=None) -> None:
    """Set the named jobs (all by default) due now, as if their next slot had come."""
    store = open_job_store(db_url)
    store.start(paused=True)
    try:
        for job in store.get_jobs():
            if names is None or job.name in names:
                store.modify_job(job.id, next_run_time=datetime.now(timezone.utc))
    finally:
        store.shutdown()


def wait_until(condition, what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)
    return value


class Pass:
    """An `expowatch schedule --once -v` process whose log lines can be waited for."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen([sys.executable, "-m", "crawler.cli", "schedule", "--once", "-v", *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        self.log: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, pattern: str, timeout: float = WAIT) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s:\n" + self.text()) from None
            if line is None:
                raise AssertionError(f"the pass exited before {pattern!r}:\n" + self.text())
            self.log.append(line)
            if match := re.search(pattern, line):
                return match

    def finish(self, timeout: float = WAIT * 3) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join()
        while (line := self._lines.get()) is not None:
            self.log.append(line)
        self.proc.stderr.close()
        return code

    def text(self) -> str:
        return "\n".join(self.log)


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    return url


def engine_runner(store: str, sources_file: Path, *, timeout: float = 300, kill_grace: float = 20,
                  max_concurrent: int = 32, **engine) -> EngineRunner:
    config = RunnerConfig(db_url=store, sources_file=str(sources_file), timeout=timeout, kill_grace=kill_grace,
                          max_concurrent=max_concurrent)
    return EngineRunner(config, load_sources(str(sources_file)), EngineSettings(**engine))


def crawl_all(runner: EngineRunner, names: list[str]) -> dict:
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        return dict(zip(names, pool.map(runner.run, names)))


def test_fifty_sources_in_one_pass_of_one_engine_each_run_recorded_once_and_articles_stored_once(
        tmp_path, store, cli_env):
    with SmallSites(50, articles=2) as sites:
        args = ["--db", store, "--sources-file", str(write_sources(sites, tmp_path))]
        first = Pass(args, cli_env)
        assert first.finish() == 0, first.text()
        assert len(re.findall(r"crawl engine \d+ started", first.text())) == 1  # one engine for the pass
        recorded = runs(store)
        assert sorted(recorded) == [site.name for site in sites.sites]
        assert all([r.status for r in site_runs] == ["ok"] for site_runs in recorded.values())
        assert all(site_runs[0].articles_new == 2 for site_runs in recorded.values())
        assert stored_articles(store) == (100, 100)
        counts = sites.request_counts()
        assert all(counts[(site.name, "robots")] == 1 for site in sites.sites)

        sites.publish()  # one new article per site
        sites.reset_counts()
        make_due(store)
        second = Pass(args, cli_env)
        assert second.finish() == 0, second.text()
        recorded = runs(store)
        assert all([r.status for r in site_runs] == ["ok", "ok"] for site_runs in recorded.values())
        assert all(site_runs[1].articles_new == 1 for site_runs in recorded.values())
        assert stored_articles(store) == (150, 150)
        counts = sites.request_counts()
        # robots.txt came from the store's cache: one feed and one article request per site
        assert counts == {(site.name, kind): 1 for site in sites.sites for kind in ("feed", "article")}


def test_a_killed_engine_fails_the_runs_it_held_a_new_engine_takes_over_and_nothing_is_doubled(tmp_path, store):
    with SmallSites(8, articles=2) as sites:
        hanging = [site.name for site in sites.sites[:3]]
        for name in hanging:
            sites.set_mode(name, "hang")
        runner = engine_runner(store, write_sources(sites, tmp_path))
        names = [site.name for site in sites.sites]
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            futures = {name: pool.submit(runner.run, name) for name in names}
            wait_until(lambda: all(futures[n].done() for n in names if n not in hanging), "the others finish")
            [pid] = runner.engine_pids()
            os.kill(pid, signal.SIGKILL)
            outcomes = {name: future.result(timeout=WAIT) for name, future in futures.items()}
        for name in hanging:
            assert outcomes[name].status == "failed"
            [run] = runs(store)[name]
            assert run.status == "failed" and run.finished_at is not None
            assert run.message == f"interrupted: the crawl engine (pid {pid}) died (killed by SIGKILL)"
        assert all(outcomes[n].status == "ok" for n in names if n not in hanging)
        assert stored_articles(store) == (10, 10)

        for name in hanging:
            sites.set_mode(name, "ok")
        again = crawl_all(runner, hanging)
        runner.close()
        assert {o.status for o in again.values()} == {"ok"}
        assert runner.engines_started == 2 and not runner.engine_pids()
        assert stored_articles(store) == (16, 16)  # what was missing, once
        assert all(len(site_runs) == (2 if name in hanging else 1) for name, site_runs in runs(store).items())


def test_a_hanging_source_times_out_and_a_raising_spider_fails_only_its_run_while_the_others_finish(tmp_path, store):
    with SmallSites(6, articles=2) as sites:
        hang = sites.sites[0].name
        sites.set_mode(hang, "hang")
        runner = engine_runner(store, write_sources(sites, tmp_path), timeout=45, kill_grace=20,
                               scrapy_settings={"SPIDER_MODULES": ["spiders", "tests.engine_spiders"]})
        names = [site.name for site in sites.sites]
        outcomes = crawl_all(runner, names)
        runner.close()
        assert outcomes[hang].status == "timeout"
        [run] = runs(store)[hang]
        assert run.status == "timeout" and run.message == (
            "timed out after 45 s: the scheduler ended the crawl (closed in the engine)")
        assert outcomes[BROKEN_SOURCE].status == "failed"
        [run] = runs(store)[BROKEN_SOURCE]
        assert run.message == ("the crawl ended without recording a result: "
                               "RuntimeError: this spider is broken on purpose")
        for name in set(names) - {hang, BROKEN_SOURCE}:
            assert outcomes[name].status == "ok", outcomes[name]
            assert [r.articles_new for r in runs(store)[name]] == [2]
        assert runner.engines_started == 1  # the timed-out crawl was closed without replacing the engine
        assert stored_articles(store) == (8, 8)


def test_recycling_after_n_crawls_or_above_the_memory_limit_keeps_every_run(tmp_path, store):
    with SmallSites(7, articles=1) as sites:
        sources = write_sources(sites, tmp_path)
        names = [site.name for site in sites.sites]
        runner = engine_runner(store, sources, max_concurrent=2, recycle_after=3)
        outcomes = crawl_all(runner, names)
        runner.close()
        assert {o.status for o in outcomes.values()} == {"ok"}
        assert runner.engines_started == 3  # 3 + 3 + 1 crawls
        assert all([r.status for r in site_runs] == ["ok"] for site_runs in runs(store).values())
        assert stored_articles(store) == (7, 7)

        sites.publish()
        runner = engine_runner(store, sources, max_concurrent=1, rss_limit_mb=1)  # every engine is over it
        outcomes = crawl_all(runner, names[:3])
        runner.close()
        assert {o.status for o in outcomes.values()} == {"ok"}
        assert runner.engines_started == 3
        assert stored_articles(store) == (10, 10)


def test_sigterm_to_a_pass_drains_the_engine_and_leaves_the_interrupted_sources_due(tmp_path, store, cli_env):
    with SmallSites(5, articles=1) as sites:
        hanging = sorted(site.name for site in sites.sites[:2])
        for name in hanging:
            sites.set_mode(name, "hang")
        one_pass = Pass(["--grace", "0", "--db", store, "--sources-file", str(write_sources(sites, tmp_path))],
                        cli_env)
        pid = int(one_pass.wait_for(r"crawl started \(run \d+, pid (\d+)\)").group(1))
        for _ in range(3):
            one_pass.wait_for(r": crawl ok")
        one_pass.proc.send_signal(signal.SIGTERM)
        assert one_pass.finish() == 1
        assert f"interrupted; due again at the next pass: {', '.join(hanging)}" in one_pass.text() or \
            f"interrupted; due again at the next pass: {', '.join(reversed(hanging))}" in one_pass.text()
        assert re.search(rf"crawl engine 1 \(pid {pid}\) exited", one_pass.text())
        wait_until(lambda: not os.path.exists(f"/proc/{pid}"), "the engine process is gone")
        recorded = runs(store)
        for name in hanging:
            [run] = recorded[name]
            assert run.status == "partial" and run.finished_at is not None
        assert stored_articles(store) == (3, 3)


def test_sigterm_to_the_engine_closes_its_crawls_and_records_them(tmp_path, store):
    with SmallSites(3, articles=1) as sites:
        for site in sites.sites:
            sites.set_mode(site.name, "hang")
        runner = engine_runner(store, write_sources(sites, tmp_path))
        names = [site.name for site in sites.sites]
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            futures = [pool.submit(runner.run, name) for name in names]
            wait_until(lambda: sum(sites.request_counts().values()) == 3, "each crawl waits for its site")
            [pid] = runner.engine_pids()
            os.kill(pid, signal.SIGTERM)
            outcomes = [f.result(timeout=WAIT) for f in futures]
        runner.close()
        assert [o.status for o in outcomes] == ["partial"] * 3
        for name in names:
            [run] = runs(store)[name]
            assert run.status == "partial" and run.message.startswith("crawl stopped early (shutdown)")
        assert not runner.engine_pids()
