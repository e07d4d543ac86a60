"""Crash safety: killed crawls, concurrent writers and an unusable store lose nothing and double nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import defaultdict

import pytest
from sqlalchemy import func, select

from crawler.urls import canonical_url
from storage.engine import session_factory
from storage.migrate import upgrade
from storage.models import Article, ArticleEvent, ArticleUrl, CrawlRun, MinhashBand, RawPage
from waiting import wait_until

pytestmark = pytest.mark.integration

KILL_TRIALS = 20
KILL_SEED = int(os.environ.get("EXPOWATCH_KILL_SEED", "20261123"))


def crawl_args(sources_file, db_url: str) -> list[str]:
    return [sys.executable, "-m", "crawler.cli", "crawl", "--quiet", "--sources-file", str(sources_file), "--db", db_url]


def wait_until_crawling(db_url: str, crawl: subprocess.Popen) -> None:
    """Block until the crawl process has opened a run row (or has ended)."""
    def crawling_or_ended() -> bool:
        if crawl.poll() is not None:
            return True
        with session_factory(db_url)() as session:
            return bool(session.scalar(select(func.count()).select_from(CrawlRun).where(CrawlRun.status == "running")))

    wait_until(crawling_or_ended, "the crawl to open a run row", interval=0.01)


def store_shape(db_url: str) -> dict[str, object]:
    """What a store holds, independent of ids and of the order articles arrived in."""
    with session_factory(db_url)() as session:
        urls_by_article: dict[int, set[str]] = defaultdict(set)
        for article_id, url in session.execute(select(ArticleUrl.article_id, ArticleUrl.url)):
            urls_by_article[article_id].add(url)
        articles = session.execute(select(Article.id, Article.canonical_url, Article.content_hash, Article.duplicate_of_id)).all()
        clusters: dict[int, set[str]] = defaultdict(set)
        for article_id, url, _, duplicate_of in articles:
            clusters[duplicate_of or article_id].add(url)
        tags = {(url, event, role) for url, event, role in session.execute(
            select(Article.canonical_url, ArticleEvent.event, ArticleEvent.role).join(Article, ArticleEvent.article_id == Article.id))}
        return {
            "articles": {(url, digest) for _, url, digest, _ in articles},
            "url_groups": {frozenset(urls) for urls in urls_by_article.values()},
            "clusters": {frozenset(urls) for urls in clusters.values()},
            "tags": tags,
        }


def assert_no_half_written_rows(db_url: str) -> None:
    with session_factory(db_url)() as session:
        article_ids = set(session.scalars(select(Article.id)))
        assert set(session.scalars(select(RawPage.article_id))) == article_ids, "an article without its raw page"
        with_original = set(session.scalars(select(ArticleUrl.article_id).where(ArticleUrl.relation == "original")))
        assert with_original == article_ids, "an article without its original URL"
        assert set(session.scalars(select(ArticleEvent.article_id))) <= article_ids
        assert set(session.scalars(select(MinhashBand.article_id))) <= article_ids
        assert session.scalar(select(func.count()).select_from(CrawlRun).where(CrawlRun.status == "running")) == 0


def test_killed_at_random_points_twenty_times_then_rerun_equals_one_clean_crawl(replica, tmp_path, cli_env):
    sources = replica.write_sources_file(tmp_path / "sources.toml")
    slow = tmp_path / "slow.toml"  # a small delay so that kills land in the middle of the work
    slow.write_text(sources.read_text().replace("download_delay = 0\n", "download_delay = 0.05\n"))
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    subprocess.run(crawl_args(sources, reference), env=cli_env, check=True, timeout=300)

    victim = f"sqlite:///{tmp_path / 'killed.db'}"
    upgrade(victim)
    rng = random.Random(KILL_SEED)
    killed = 0
    for _ in range(KILL_TRIALS):
        crawl = subprocess.Popen(crawl_args(slow, victim), env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until_crawling(victim, crawl)
        try:  # then a random point in the work: discovery, fetching, extracting or storing
            crawl.wait(timeout=rng.uniform(0.0, 2.0))
        except subprocess.TimeoutExpired:
            crawl.send_signal(signal.SIGKILL)
            killed += 1
        crawl.wait()
    assert killed >= KILL_TRIALS // 2, f"only {killed} of {KILL_TRIALS} crawls were killed mid-way (seed {KILL_SEED})"
    final = subprocess.run(crawl_args(sources, victim), env=cli_env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr

    assert_no_half_written_rows(victim)
    assert store_shape(victim) == store_shape(reference)
    expected = {canonical_url(e.url) for e in replica.expected_articles()}
    with session_factory(victim)() as session:
        assert expected <= set(session.scalars(select(ArticleUrl.url)))
        interrupted = session.scalar(select(func.count()).select_from(CrawlRun).where(CrawlRun.message.like("interrupted%")))
    assert interrupted >= 1


def test_four_crawls_and_two_readers_on_one_sqlite_store(replica, tmp_path, cli_env, sqlite_url):
    upgrade(sqlite_url)
    sources = replica.write_sources_file(tmp_path / "sources.toml")
    sites = sorted(replica.sites)
    groups = [sites[i::4] for i in range(4)]  # four crawl processes, different sources each
    crawls = [subprocess.Popen(crawl_args(sources, sqlite_url) + group, env=cli_env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for group in groups]
    reader_code = (
        "import sys\nfrom sqlalchemy import select, func\nfrom storage.engine import session_factory\n"
        "from storage.models import Article\nmake = session_factory(sys.argv[1], for_writing=False)\n"
        "n = 0\nwhile n < 200:\n    with make() as s:\n        s.scalar(select(func.count()).select_from(Article))\n"
        "        s.execute(select(Article.title).where(Article.text.like('%expo%')).limit(5)).all()\n    n += 1\n"
    )
    readers = [subprocess.Popen([sys.executable, "-c", reader_code, sqlite_url], env=cli_env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = []
    for proc in crawls + readers:
        _, err = proc.communicate(timeout=300)  # reads and closes the pipe
        outputs.append((proc.returncode, err))
    assert all(code == 0 for code, _ in outputs), outputs
    assert not any("database is locked" in err for _, err in outputs)
    assert_no_half_written_rows(sqlite_url)
    expected = {canonical_url(e.url) for e in replica.expected_articles()}
    with session_factory(sqlite_url)() as session:
        assert expected <= set(session.scalars(select(ArticleUrl.url)))
        runs = session.scalars(select(CrawlRun.status)).all()
    assert runs and set(runs) == {"ok"}


@pytest.mark.parametrize("store", [
    "sqlite:///file:{tmp}/readonly.db?mode=ro&uri=true",
    "postgresql+psycopg://nobody@127.0.0.1:{port}/nowhere",
    "sqlite:///{tmp}/not-a-database.db",
], ids=["read-only-sqlite", "unreachable-postgres", "corrupt-file"])
def test_unusable_store_at_start_is_one_clear_line(store, tmp_path, run_cli):
    import socket

    (tmp_path / "not-a-database.db").write_bytes(b"this is not a SQLite file" * 100)
    upgrade(f"sqlite:///{tmp_path / 'readonly.db'}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sources = tmp_path / "s.toml"
    sources.write_text('[[source]]\nname = "a"\nfeeds = ["http://127.0.0.1:9/rss.xml"]\n')
    proc = run_cli("crawl", "--sources-file", str(sources), "--db", store.format(tmp=tmp_path, port=port))
    assert proc.returncode == 1
    assert proc.stderr.startswith("expowatch: error: cannot use the store"), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def corrupt_index(db_path, index: str) -> None:
    """Overwrite the root page of one index of a SQLite file with garbage (a damaged disk block)."""
    import sqlite3

    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (index,)).fetchone()
    with open(db_path, "r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(b"\xde\xad\xbe\xef" * (page_size // 4))


@pytest.mark.integration
def test_a_damaged_store_fails_the_run_and_search_says_so_in_one_line(tmp_path, run_cli):
    from hostile_server import HostileServer, article, crawl_env, page, run_measured, runs, write_sources

    with HostileServer({r"/a/\d+\.html": article}) as site:
        links = "".join(f'<a href="/a/{n}.html">story {n}</a>' for n in range(1, 11))
        site.routes["/list"] = page(f"<html><body>{links}</body></html>".encode())
        sources = write_sources(tmp_path / "s.toml", {"c": {"list_pages": [site.url("/list")],
                                                             "article_pattern": r"/a/\d+\.html$"}})
        db = tmp_path / "store.db"
        env = crawl_env(tmp_path)
        first = run_measured(["crawl", "--sources-file", str(sources), "--db", str(db)], env, timeout=90, workdir=tmp_path)
        assert first.returncode == 0, first.stderr
        corrupt_index(db, "sqlite_autoindex_article_urls_1")  # read for every link of the list page
        damaged = run_measured(["crawl", "--backfill", "--sources-file", str(sources), "--db", str(db)], env,
                               timeout=90, workdir=tmp_path)
    assert damaged.returncode == 1
    assert ("expowatch: error: source c: store error: database disk image is malformed; check it with "
            "`sqlite3 FILE 'PRAGMA integrity_check'`") in damaged.stderr
    run = runs(db)["c"]
    assert run.status == "failed" and run.message.startswith("store error: database disk image is malformed")
    assert run.errors_for(site.url("/list")) == ["store error: database disk image is malformed"]

    corrupt_index(db, "articles_fts_idx")  # the text index: every text search reads it
    found = run_cli("search", "story", "--db", str(db))
    assert found.returncode == 1
    assert found.stderr.startswith("expowatch: error: reading the store failed: database disk image is malformed; "
                                   "check it with `sqlite3 FILE 'PRAGMA integrity_check'`")
    assert len(found.stderr.strip().splitlines()) == 1


@pytest.mark.integration
def test_a_killed_run_shows_as_interrupted_with_the_counts_the_store_holds(tmp_path, run_cli):
    """kill -9 mid-crawl: `runs` and `health` show the run as interrupted (not running), counting the
    articles stored during it; the next crawl of the source closes it as failed with those counts."""
    import json
    import sqlite3

    from hostile_server import HostileServer, article, crawl_env, feed, settled_count, signal_crawl, write_sources
    from storage.runs import INTERRUPTED, start_run

    with HostileServer({r"/a/\d+\.html": article}) as site:
        site.routes["/feed.xml"] = feed([site.url(f"/a/{n}.html") for n in range(1, 301)])
        sources = write_sources(tmp_path / "s.toml", {"k": {"feeds": [site.url("/feed.xml")],
                                                             "article_pattern": r"/a/\d+\.html$"}})
        db = tmp_path / "store.db"
        killed = signal_crawl(["crawl", "--sources-file", str(sources), "--db", str(db)], crawl_env(tmp_path), db,
                              signum=signal.SIGKILL, group=True, after_articles=20, grace=30, workdir=tmp_path)
    assert killed.seconds is not None and killed.run_status == "running"  # the row as the killed crawl left it
    stored = settled_count(db)  # the store writer may commit the batch it held, then ends
    assert stored >= 20

    listed = run_cli("runs", "--format", "json", "--db", str(db), check=True)
    (run,) = json.loads(listed.stdout)
    assert run["status"] == "interrupted" and run["articles_new"] == stored
    assert run["message"].startswith(INTERRUPTED)
    health = run_cli("health", "--format", "json", "--sources-file", str(sources), "--source", "k", "--db", str(db))
    assert '"interrupted"' in health.stdout and '"running"' not in health.stdout

    with session_factory(f"sqlite:///{db}").begin() as session:  # what the next crawl of the source does first
        start_run(session, session.scalar(select(CrawlRun.source_id)))
    with sqlite3.connect(db) as conn:
        first = conn.execute("SELECT status, message, articles_new FROM crawl_runs ORDER BY id LIMIT 1").fetchone()
    assert first == ("failed", INTERRUPTED, stored)


SIGNAL_GRACE_S = 10.0  # Docker's default stop timeout; timeout(1) and systemd send SIGTERM the same way
SIGNAL_TRIES = 3  # benchmarks/signal_stop.py runs 20


@pytest.mark.integration
def test_sigterm_to_the_process_group_ends_the_crawl_with_its_run_recorded(tmp_path):
    """The whole group gets SIGTERM (helpers included, as timeout(1) and Docker send it): the crawl
    ends within the grace period every time, its run recorded; the fetched pages it had no time for
    are recorded as 'shutdown', and the next crawl stores them."""
    import json
    import sqlite3

    from hostile_server import (
        HostileServer, article, count_articles, crawl_env, feed, run_measured, signal_crawl, write_sources,
    )

    articles = 300
    with HostileServer({r"/a/\d+\.html": article}) as site:
        site.routes["/feed.xml"] = feed([site.url(f"/a/{n}.html") for n in range(1, articles + 1)])
        sources = write_sources(tmp_path / "s.toml", {"t": {"feeds": [site.url("/feed.xml")], "concurrency": 8,
                                                             "article_pattern": r"/a/\d+\.html$"}})
        env = crawl_env(tmp_path)
        for attempt in range(SIGNAL_TRIES):
            db = tmp_path / f"store-{attempt}.db"
            stopped = signal_crawl(["crawl", "--sources-file", str(sources), "--db", str(db)], env, db,
                                   signum=signal.SIGTERM, group=True, after_articles=20, grace=SIGNAL_GRACE_S,
                                   workdir=tmp_path)
            assert stopped.seconds is not None, f"try {attempt}: still running {SIGNAL_GRACE_S} s after SIGTERM"
            assert stopped.returncode == 0 and stopped.run_status == "partial", stopped.stderr[-2000:]
            assert "Traceback" not in stopped.stderr
            assert stopped.stored + stopped.shutdown_errors <= articles
        with sqlite3.connect(db) as conn:
            (errors,) = conn.execute("SELECT errors FROM crawl_runs").fetchone()
        assert {e["reason"] for e in json.loads(errors)} <= {"shutdown"}
        again = run_measured(["crawl", "--sources-file", str(sources), "--db", str(db)], env, timeout=180,
                             workdir=tmp_path)
        assert again.returncode == 0, again.stderr
    assert count_articles(db) == articles  # what the shutdown left is fetched by the next crawl
