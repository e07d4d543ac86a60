"""Distributed crawls end to end: real worker processes, a real Redis (tests/redisserver.py), a real
PostgreSQL store, the replica web. Every article once with several workers; a worker killed
mid-run; the shared per-site pace measured on the server; a poisoned request; Redis going away."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select
from typer.testing import CliRunner

from crawler.cli import app
from crawler.distributed.enqueue import enqueue_source
from crawler.distributed.keys import WORKERS, connect, inflight_key
from crawler.distributed.poison import POISONED_REASON, poisoned_entries
from crawler.distributed.status import queue_status
from crawler.urls import canonical_url
from pgserver import free_port
from redisserver import TemporaryRedis, redis_server, redis_url  # noqa: F401  (fixtures)
from spiders.sources import load_sources
from storage.engine import session_factory
from storage.migrate import upgrade
from storage.models import Article, ArticleUrl, SkippedPage
from test_crash_safety import assert_no_half_written_rows, store_shape
from test_discovery_sites import article_page, rss, site, source_toml  # noqa: F401  (site: fixture)
from waiting import wait_until

pytestmark = pytest.mark.integration

# Three of the replica's sites: wire copies of the other two's releases (duplicates across
# sources), a JavaScript-only page; half the replica, to keep the crawls short.
SITES = ("wic-tianjin", "prwire", "wimc-nanjing")
IDLE = "5"  # --until-idle seconds: a worker exits this long after the last work anywhere (1 s was shorter
# than the spread of worker start-ups on a loaded machine: one exited before the others registered)
GATHER_IDLE = IDLE  # for workers that must all be up before the work arrives
HEARTBEAT = "2"  # --heartbeat seconds: a killed worker's requests come back this soon
PACE = 0.2  # seconds between requests to one site (download_delay) in the pace test
TIMING_SLACK = 0.05  # seconds: the server stamps arrival a little after the worker took its turn
SUMMARY = re.compile(r"worker (\S+): (\d+) source runs, (\d+) new, (\d+) duplicate, (\d+) skipped, "
                     r"(\d+) errors, (\d+) pages fetched")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "crawler.cli", *args]


class Workers:
    """Worker processes of one test, their stderr in files."""

    def __init__(self, tmp: Path, env: dict[str, str], redis_url: str, db_url: str, sources: Path):
        self.tmp, self.env, self.redis_url, self.sources = tmp, env, redis_url, sources
        self.common = ["--redis", redis_url, "--db", db_url, "--sources-file", str(sources)]
        self.started: list[tuple[subprocess.Popen, Path]] = []

    def enqueue(self, *names: str) -> None:
        """A round of the named sources (default SITES), queued as `expowatch enqueue` does."""
        registry = load_sources(self.sources)
        for name in names or SITES:
            assert enqueue_source(self.redis_url, registry[name]).queued

    def start(self, *extra: str) -> subprocess.Popen:
        log = self.tmp / f"worker-{len(self.started)}.log"
        with open(log, "w") as stderr:  # one extraction process each: the test machine has few cores
            proc = subprocess.Popen(cli("worker", *self.common, "--extract-workers", "1", *extra), env=self.env,
                                    stdout=subprocess.DEVNULL, stderr=stderr)
        self.started.append((proc, log))
        return proc

    def stderr(self, proc: subprocess.Popen) -> str:
        return next(log for p, log in self.started if p is proc).read_text()

    def finish(self, proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
        """Wait for a worker; returns (exit code, stderr)."""
        return proc.wait(timeout=timeout), self.stderr(proc)

    def summary(self, proc: subprocess.Popen) -> dict[str, int]:
        match = SUMMARY.search(self.stderr(proc))
        assert match, self.stderr(proc)
        return dict(zip(("runs", "new", "duplicate", "skipped", "errors", "pages"), map(int, match.groups()[1:])))

    def stop_all(self) -> None:
        for proc, _ in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def reference(replica, postgres_server, tmp_path_factory):
    """What one single-machine crawl of the replica stores (the shape every distributed run must match)."""
    tmp = tmp_path_factory.mktemp("reference")
    db = postgres_server.create_database()
    sources = replica.write_sources_file(tmp / "sources.toml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPOWATCH_")}
    subprocess.run(cli("crawl", *SITES, "--quiet", "--sources-file", str(sources), "--db", db), env=env,
                   check=True, timeout=300)
    return store_shape(db)


@pytest.fixture
def pg_store(postgres_server) -> str:
    db = postgres_server.create_database()
    upgrade(db)
    return db


@pytest.fixture
def workers(tmp_path, cli_env, redis_url, pg_store):  # noqa: F811
    """Workers on the test's Redis and store; sources are set with .use(sources_file)."""
    made: list[Workers] = []

    def use(sources: Path, redis_at: str = redis_url) -> Workers:
        made.append(Workers(tmp_path, cli_env, redis_at, pg_store, sources))
        return made[-1]

    yield use
    for group in made:
        group.stop_all()


def stored_urls(db_url: str) -> set[str]:
    with session_factory(db_url)() as session:
        return set(session.scalars(select(ArticleUrl.url)))


def assert_queue_drained(redis_at: str) -> None:
    status = queue_status(redis.Redis.from_url(redis_at))
    assert status["queued"] == {} and status["workers"] == {}, status


def expected_urls(replica) -> set[str]:
    return {canonical_url(e.url) for e in replica.expected_articles() if e.site in SITES}


def test_three_workers_store_every_article_once(replica, reference, workers, pg_store, redis_url, tmp_path):  # noqa: F811
    group = workers(replica.write_sources_file(tmp_path / "sources.toml"))
    # One source at a time each, all ready before the work arrives: the sources are spread over the workers.
    procs = [group.start("--until-idle", GATHER_IDLE, "--max-sources", "1") for _ in range(3)]
    wait_until_registered(redis_url, procs)
    group.enqueue()
    for proc in procs:
        code, stderr = group.finish(proc)
        assert code == 0, stderr
    pages = [group.summary(proc)["pages"] for proc in procs]
    assert sum(1 for n in pages if n) >= 2, f"the work was not shared: pages fetched per worker {pages}"
    assert store_shape(pg_store) == reference  # the same articles, copies and tags as one machine stores
    assert_no_half_written_rows(pg_store)
    assert_queue_drained(redis_url)


def worker_ids(redis_at: str, procs: list[subprocess.Popen]) -> dict[int, str]:
    """pid -> worker id of the given worker processes that have registered in Redis."""
    registered = [raw.decode() for raw in redis.Redis.from_url(redis_at).smembers(WORKERS)]
    return {p.pid: wid for p in procs for wid in registered if f":{p.pid}:" in wid}


def wait_until_registered(redis_at: str, procs: list[subprocess.Popen], timeout: float = 60) -> None:
    wait_until(lambda: len(worker_ids(redis_at, procs)) == len(procs), "the workers to register", timeout=timeout,
               interval=0.01, alive=lambda: all(p.poll() is None for p in procs))


def wait_until_holding(redis_at: str, proc: subprocess.Popen, timeout: float = 60) -> str:
    """The id of the worker process proc once it holds requests in flight."""
    client = redis.Redis.from_url(redis_at)

    def holding() -> str | None:
        for raw in client.smembers(WORKERS):
            worker_id = raw.decode()
            if f":{proc.pid}:" in worker_id and client.hlen(inflight_key(worker_id)):
                return worker_id
        return None

    return wait_until(holding, f"worker {proc.pid} to hold a request", timeout=timeout, interval=0.01,
                      alive=lambda: proc.poll() is None)


def test_a_worker_killed_mid_run_loses_nothing(replica, reference, workers, pg_store, redis_url, tmp_path, cli_env):  # noqa: F811
    sources = replica.write_sources_file(tmp_path / "sources.toml")
    slow = tmp_path / "slow.toml"  # a small delay so that the kill lands in the middle of the work
    slow.write_text(sources.read_text().replace("download_delay = 0\n", "download_delay = 0.05\n"))
    group = workers(slow)
    queued = subprocess.run(cli("enqueue", *SITES, "--redis", redis_url, "--sources-file", str(slow)),
                            env=cli_env, capture_output=True, text=True, timeout=60)
    assert queued.returncode == 0, queued.stderr
    declared = load_sources(slow)
    assert queued.stderr.splitlines() == [
        f"{name}: queued {len(s.feeds) + len(s.sitemaps) + len(s.list_pages)} discovery requests"
        for name, s in ((name, declared[name]) for name in SITES)], queued.stderr
    victim = group.start("--heartbeat", HEARTBEAT)
    victim_id = wait_until_holding(redis_url, victim)
    survivor = group.start("--heartbeat", HEARTBEAT, "--until-idle", IDLE)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    code, stderr = group.finish(survivor)
    assert code == 0, stderr
    assert re.search(rf"worker {re.escape(victim_id)} died: [1-9]\d* requests back in the queue", stderr), stderr
    assert expected_urls(replica) <= stored_urls(pg_store)  # the survivor finished the victim's work
    assert_no_half_written_rows(pg_store)  # the victim's runs were closed as failed
    assert_queue_drained(redis_url)

    group.enqueue()  # the next round changes nothing
    code, stderr = group.finish(group.start("--until-idle", IDLE))
    assert code == 0, stderr
    assert store_shape(pg_store) == reference


def test_two_workers_keep_one_pace_per_site(replica, workers, tmp_path, redis_url):  # noqa: F811
    sources = replica.write_sources_file(tmp_path / "sources.toml")
    paced = tmp_path / "paced.toml"  # one request at a time per worker, PACE apart per site
    paced.write_text(sources.read_text().replace("download_delay = 0\n", f"download_delay = {PACE}\n")
                     .replace("concurrency = 4\n", "concurrency = 1\n"))
    group = workers(paced)
    procs = [group.start("--until-idle", GATHER_IDLE) for _ in range(2)]
    wait_until_registered(redis_url, procs)  # both ready before the work arrives
    replica.reset_counts()
    group.enqueue("technews")
    for proc in procs:
        code, stderr = group.finish(proc)
        assert code == 0, stderr
    assert all(group.summary(proc)["pages"] for proc in procs), "both workers should have fetched pages"
    arrivals = sorted(at for at, site, *_ in replica.request_log if site == "technews")
    assert len(arrivals) >= 10
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:])]
    assert min(gaps) >= PACE - TIMING_SLACK, f"two requests {min(gaps):.3f} s apart; the pace is {PACE} s"


def test_a_request_that_kills_its_worker_is_dropped_after_bounded_tries(site, workers, pg_store, tmp_path, redis_url):  # noqa: F811
    holder: list[subprocess.Popen] = []

    def kill_the_worker(path: str, nth: int):  # a page whose fetch is fatal to whoever fetches it
        holder[-1].send_signal(signal.SIGKILL)
        return article_page(99)

    articles = lambda path, nth: article_page(int(re.search(r"\d+", path).group()))  # noqa: E731
    poison = site({"/feed.xml": (200, {"Content-Type": "application/rss+xml"},
                                 rss(["/a/1.html", "/a/2.html", "/a/3.html"])),
                   r"/a/[12]\.html": articles, "/a/3.html": kill_the_worker})
    sources = tmp_path / "sources.toml"
    sources.write_text(source_toml("fatal", feeds=[poison.url("/feed.xml")], article_pattern=r"/a/\d+\.html$"))
    group = workers(sources)
    group.enqueue("fatal")
    tries = ("--heartbeat", "1", "--until-idle", IDLE, "--max-tries", "2")
    for _ in range(2):  # each takes the fatal page (after the one before it is found dead) and dies
        holder.append(group.start(*tries))
        code, _ = group.finish(holder[-1])
        assert code == -signal.SIGKILL
    code, stderr = group.finish(group.start(*tries))
    assert code == 0, stderr
    fatal = poison.url("/a/3.html")
    assert f"{fatal} dropped as poisoned after 2 tries" in stderr
    assert poison.paths().count("/a/3.html") == 2
    with session_factory(pg_store)() as session:
        assert set(session.scalars(select(Article.canonical_url))) == {poison.url("/a/1.html"), poison.url("/a/2.html")}
        # skipped pages are known pages: the next round does not fetch it again
        assert session.execute(select(SkippedPage.url, SkippedPage.reason)).all() == [(fatal, POISONED_REASON)]
    shown = CliRunner().invoke(app, ["queue", "--redis", redis_url])
    assert shown.exit_code == 0 and shown.output.splitlines() == [
        f"poisoned: fatal {fatal} (2 workers died holding it, {poisoned_entries(connect(redis_url))[0]['at']})"]


@pytest.mark.parametrize("outage", ["down", "restarted"])
def test_redis_going_away_ends_the_worker_with_one_clear_line(outage, replica, workers, tmp_path):
    server = TemporaryRedis().start()
    try:
        sources = replica.write_sources_file(tmp_path / "sources.toml")
        paced = tmp_path / "paced.toml"  # slow enough that Redis goes away in the middle of the crawl
        paced.write_text(sources.read_text().replace("download_delay = 0\n", "download_delay = 0.5\n"))
        group = workers(paced, server.url)
        group.enqueue("technews")
        worker = group.start()
        wait_until_holding(server.url, worker)
        server.kill() if outage == "down" else server.restart()
        code, stderr = group.finish(worker, timeout=30)
    finally:
        server.stop()
    assert code == 1
    last = stderr.strip().splitlines()[-1]
    expected = {"down": f"expowatch: error: lost Redis at {server.url}: ",
                "restarted": f"expowatch: error: Redis at {server.url} restarted while this worker was serving it"}
    assert last.startswith(expected[outage]), stderr
    assert "Traceback" not in stderr


def test_worker_and_enqueue_refuse_bad_setups_with_one_line(tmp_path, sqlite_url, pg_store, redis_url):  # noqa: F811

    sources = tmp_path / "s.toml"
    sources.write_text(source_toml("a", feeds=["http://127.0.0.1:9/rss.xml"]))
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    cases = [
        (("worker", "--db", pg_store), "no Redis for the shared queue"),
        (("worker", "--db", pg_store, "--redis", dead_redis), f"cannot reach Redis at {dead_redis}"),
        (("worker", "--db", sqlite_url, "--redis", redis_url), "workers need a PostgreSQL store"),
        (("enqueue", "nope", "--redis", redis_url, "--sources-file", str(sources)), "unknown source 'nope'"),
        (("enqueue", "--redis", dead_redis, "--sources-file", str(sources)), f"cannot reach Redis at {dead_redis}"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(app, list(args), env={"EXPOWATCH_REDIS_URL": None, "EXPOWATCH_DB_URL": None,
                                                           "EXPOWATCH_SOURCES": None})
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.startswith(f"expowatch: error: {message}"), (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
    with session_factory(pg_store)() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 0
