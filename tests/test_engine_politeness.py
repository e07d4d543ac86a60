"""Politeness across the crawls of one engine (crawler.engine.pace), measured on the server.

Two or more sources on ONE site (one ScriptedSite on 127.0.0.1, each source under a path of
its own) are crawled at once in one real engine under its supervisor. Each crawl has a
downloader of its own, so without the engine's shared limits they would each keep the
site's delay only for themselves and together hit the site more often than it allows. The
server records when each request arrived; the tests check lower bounds on the gaps (never
exact values), so a loaded machine only makes them pass more slowly.
"""

from __future__ import annotations

import re
import threading
import time
from itertools import pairwise
from pathlib import Path

import pytest
from test_discovery_sites import ScriptedSite, article_page, rss, site, source_toml  # noqa: F401 (site: fixture)
from test_engine import crawl_all, engine_runner, runs, store, stored_articles  # noqa: F401 (store: fixture)

pytestmark = pytest.mark.integration

DELAY = 0.8  # seconds: the sources' download_delay in the first test
CRAWL_DELAY = 0.8  # seconds: robots.txt Crawl-delay in the second
RETRY_AFTER = 1  # seconds: the 503's Retry-After in the third
JITTER = 0.5  # Scrapy varies a crawl's own DOWNLOAD_DELAY by up to ±50% (a Crawl-delay is made exact)
# Seconds the server's arrival times may run short of the engine's send times (a request whose
# arrival is read late makes the next gap look shorter); generous for a loaded 2-core machine.
SLACK = 0.15
MAX_REQUESTS = 3  # the engine's global request limit in the fourth test
HOLD = 0.5  # seconds that server holds each request open
ARTICLES = 2  # per source


def article(path: str, _nth: int):
    return article_page(int(re.search(r"(\d+)\.html$", path).group(1)))


def feed_of(source: str, first: int):
    """The feed of `source`: ARTICLES articles numbered from first (distinct across sources)."""
    return 200, {"Content-Type": "application/rss+xml"}, rss(
        [f"/{source}/a/{n}.html" for n in range(first, first + ARTICLES)])


def one_site_routes(names: list[str]) -> dict:
    """Routes of one site serving a feed and its articles for each named source."""
    routes = {}
    for i, name in enumerate(names):
        routes[f"/{name}/feed.xml"] = feed_of(name, 100 * (i + 1))
        routes[rf"/{name}/a/\d+\.html"] = article
    return routes


def sources_on(site: ScriptedSite, tmp_path: Path, names: list[str], **keys) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text("\n".join(
        source_toml(name, feeds=[site.url(f"/{name}/feed.xml")], article_pattern=rf"/{name}/a/\d+\.html$", **keys)
        for name in names), encoding="utf-8")
    return path


def crawl_at_once(store: str, sources: Path, names: list[str], **engine) -> dict:
    """Crawl the named sources at once in one engine; returns their outcomes."""
    runner = engine_runner(store, sources, **engine)
    try:
        outcomes = crawl_all(runner, names)
    finally:
        runner.close()
    assert runner.engines_started == 1
    return outcomes


def owner(path: str) -> str | None:
    """The source a request was for (None: robots.txt, shared by the site's sources)."""
    match = re.match(r"/([^/]+)/", path)
    return match.group(1) if match else None


def arrivals(site: ScriptedSite) -> list[tuple[float, str]]:
    """(arrival time, path) of every request the site has had, in order (read once the crawls are over)."""
    return [(hit.at, hit.path) for hit in site.hits]


def assert_all_ok(store: str, outcomes: dict, names: list[str]) -> None:
    assert {name: o.status for name, o in outcomes.items()} == {name: "ok" for name in names}, outcomes
    assert all(len(runs(store)[name]) == 1 for name in names)
    assert stored_articles(store) == (ARTICLES * len(names), ARTICLES * len(names))


def test_two_sources_of_one_site_keep_its_download_delay_between_their_requests_taken_together(
        tmp_path, store, site):
    names = ["left", "right"]
    server = site(one_site_routes(names))
    outcomes = crawl_at_once(store, sources_on(server, tmp_path, names, download_delay=DELAY), names)
    assert_all_ok(store, outcomes, names)

    hits = arrivals(server)
    crossings = 0
    for (before, was), (after, now) in pairwise(hits):
        gap = after - before
        if owner(was) and owner(now) and owner(was) != owner(now):
            crossings += 1  # the other crawl's request: the engine makes it wait the whole delay
            assert gap >= DELAY - SLACK, (was, now, gap, hits)
        else:  # maybe the same crawl: its own downloader spaces it, with Scrapy's jitter
            assert gap >= DELAY * (1 - JITTER) - SLACK, (was, now, gap, hits)
    assert crossings >= 1, hits  # the crawls did run at once


def test_a_robots_crawl_delay_holds_across_two_sources_of_the_site(tmp_path, store, site):
    names = ["left", "right"]
    routes = one_site_routes(names)
    routes["/robots.txt"] = (200, {"Content-Type": "text/plain"},
                             f"User-agent: *\nCrawl-delay: {CRAWL_DELAY}\nDisallow: /private/\n".encode())
    server = site(routes)
    outcomes = crawl_at_once(store, sources_on(server, tmp_path, names), names)  # download_delay 0
    assert_all_ok(store, outcomes, names)

    hits = arrivals(server)
    owners = {owner(path) for _, path in hits}
    assert {"left", "right"} <= owners
    # Before its robots.txt is read a crawl knows no Crawl-delay: two robots.txt requests (one a
    # crawl) may come close together. Every other request waits for the Crawl-delay after the last.
    for (before, was), (after, now) in pairwise(hits):
        if now != "/robots.txt":
            assert after - before >= CRAWL_DELAY - SLACK, (was, now, after - before, hits)


def test_a_retry_after_from_the_site_holds_back_the_other_crawl_of_the_site(tmp_path, store, site):
    names = ["left", "right"]
    routes = one_site_routes(names)
    told = threading.Event()
    answered: list[float] = []

    def left_feed(path: str, nth: int):
        if nth > 1:
            return feed_of("left", 100)
        server.wait_for(r"/right/feed\.xml", 1)  # both crawls are under way
        answered.append(time.monotonic())
        told.set()
        return 503, {"Retry-After": str(RETRY_AFTER)}, b"busy"

    def right_feed(path: str, nth: int):
        assert told.wait(60)
        time.sleep(0.2)  # the site answers the other source a moment after it said "later"
        return feed_of("right", 200)

    routes["/left/feed.xml"] = left_feed
    routes["/right/feed.xml"] = right_feed
    server = site(routes)
    outcomes = crawl_at_once(store, sources_on(server, tmp_path, names), names)  # download_delay 0
    assert_all_ok(store, outcomes, names)

    [busy] = answered
    later = [(at - busy, path) for at, path in arrivals(server) if at > busy]
    assert {owner(path) for _, path in later} == {"left", "right"}  # the retry, and the other crawl's articles
    assert len([path for _, path in later if owner(path) == "right"]) == ARTICLES
    assert min(gap for gap, _ in later) >= RETRY_AFTER - SLACK, later


def test_the_global_request_limit_caps_requests_in_flight_across_all_crawls(tmp_path, store, site):
    names = ["one", "two", "three", "four"]  # each may have 2 requests in flight: 8 together
    in_flight = [0]
    most = [0]
    lock = threading.Lock()

    def held(answer):
        def reply(path: str, nth: int):
            with lock:
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])
            try:
                time.sleep(HOLD)  # a slow site: every request stays open a while
                return answer(path, nth) if callable(answer) else answer
            finally:
                with lock:
                    in_flight[0] -= 1
        return reply

    routes = {pattern: held(answer) for pattern, answer in one_site_routes(names).items()}
    routes["/robots.txt"] = held((200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow:\n"))
    server = site(routes)
    outcomes = crawl_at_once(store, sources_on(server, tmp_path, names), names, max_requests=MAX_REQUESTS)
    assert_all_ok(store, outcomes, names)
    assert len(server.hits) >= len(names) * (1 + ARTICLES)
    assert most[0] == MAX_REQUESTS  # reached: the crawls pressed against the limit, and never past it
