"""Slow servers: a body dripped a byte at a time and a server that never answers end at
DOWNLOAD_TIMEOUT, are retried RETRY_TIMES times, and the crawl finishes.

DOWNLOAD_TIMEOUT is 30 s in crawler/settings.py; this crawl shortens it to 2 s (the CLI has
no option for it, so the same CLI entry point runs after the setting is changed) to keep the
test quick. Everything else is as in production, retries and backoff included.
"""

from __future__ import annotations

import os

import pytest

from hostile_server import HostileServer, article, drip, feed, run_measured, runs, stored, write_sources

TIMEOUT_S = 2  # shortened DOWNLOAD_TIMEOUT for this crawl
RETRY_TIMES = 2  # crawler/settings.py
DRIP_INTERVAL = 0.2  # seconds between bytes: the connection never goes idle long enough to look dead


def silent(ex) -> None:
    """Accept the request, then say nothing until the server closes."""
    ex.closing.wait()


@pytest.fixture(scope="module")
def slow_crawl(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("slow")
    with HostileServer({r"/a/50\.html": article, "/a/51.html": drip(DRIP_INTERVAL), "/a/52.html": silent}) as slow, \
            HostileServer({"/feed.xml": drip(DRIP_INTERVAL, "application/rss+xml")}) as dead:
        slow.routes["/feed.xml"] = feed([slow.url(f"/a/{n}.html") for n in (50, 51, 52)])
        sources = write_sources(tmp / "sources.toml", {
            "slow-pages": {"feeds": [slow.url("/feed.xml")], "article_pattern": r"/a/\d+\.html$"},
            "slow-feed": {"feeds": [dead.url("/feed.xml")]},
        })
        env = {k: v for k, v in os.environ.items() if not k.startswith("EXPOWATCH_")}
        env["XDG_DATA_HOME"] = str(tmp / "xdg")
        db = tmp / "store.db"
        outcome = run_measured(["crawl", "--sources-file", str(sources), "--db", str(db)], env, timeout=90,
                               settings={"DOWNLOAD_TIMEOUT": TIMEOUT_S}, workdir=tmp)
        yield {"outcome": outcome, "runs": runs(db), "stored": stored(db), "slow": slow, "dead": dead}


@pytest.mark.timeout(120)
def test_drips_and_silence_time_out_are_retried_and_recorded(slow_crawl):
    slow, run = slow_crawl["slow"], slow_crawl["runs"]["slow-pages"]
    assert run.status == "ok"
    assert set(slow_crawl["stored"]) == {slow.url("/a/50.html")}
    for path in ("/a/51.html", "/a/52.html"):
        assert slow.count(path) == 1 + RETRY_TIMES
        (reason,) = run.errors_for(slow.url(path))
        assert f"took longer than {TIMEOUT_S:.1f} seconds" in reason


@pytest.mark.timeout(120)
def test_a_dripping_feed_fails_its_source_and_the_crawl_exits_1(slow_crawl):
    outcome, dead, run = slow_crawl["outcome"], slow_crawl["dead"], slow_crawl["runs"]["slow-feed"]
    assert outcome.returncode == 1
    assert dead.count("/feed.xml") == 1 + RETRY_TIMES
    assert run.status == "failed"
    assert "expowatch: error: source slow-feed: source unreachable" in outcome.stderr
    assert f"{dead.url('/feed.xml')}: DownloadTimeoutError: Getting {dead.url('/feed.xml')} took longer than" in outcome.stderr
    # three attempts of 2 s and two backoff waits (0.5 s, 1 s), plus start-up: far below 30 s
    assert outcome.seconds < 60
