"""Politeness, measured on the server: robots.txt rules and Crawl-delay, Retry-After (with
its cap), backoff between retries, the User-Agent, and the per-source robots override.

One crawl of five small sources (one process) serves every test in this module.
"""

from __future__ import annotations

import pytest

from test_discovery_sites import ScriptedSite, article_page, expowatch, html, rss, source_toml

pytestmark = pytest.mark.integration  # one crawl in a subprocess serves the module

ARTICLE = r"/a/\d+\.html"
CRAWL_DELAY = 0.5  # seconds; small to keep the test quick, large enough to tell from no delay
RETRY_AFTER = 1  # seconds the slow-down site asks for
PACE = 1.0  # seconds: the paced source's download_delay (at least 0.5 with jitter: well above the slack)
JITTER = 0.5  # Scrapy varies each delay by up to ±50% (DOWNLOAD_DELAY_JITTER's default)
# seconds: the server reads each arrival on a new connection and a new handler thread, which a
# loaded machine (the suite runs on several workers) schedules tens of milliseconds late, so a gap
# between two arrivals can read that much shorter than the client's delay between its sends
TIMING_SLACK = 0.15


def articles(path: str, nth: int):
    return article_page(int(path.rsplit("/", 1)[1].split(".")[0]))


def feed_of(*paths: str):
    return 200, {"Content-Type": "application/rss+xml"}, rss(list(paths))


@pytest.fixture(scope="module")
def polite_crawl(tmp_path_factory):
    """Start the sites, crawl them all once; yields (sites, completed process)."""
    sites = {
        # 503 + Retry-After: 1 on the first feed request, then the feed.
        "slowdown": ScriptedSite({
            "/feed.xml": lambda p, n: (503, {"Retry-After": str(RETRY_AFTER)}, b"busy") if n == 1
            else feed_of("/a/1.html"),
            ARTICLE: articles,
        }),
        # robots.txt: a Crawl-delay and a disallowed path, for our user agent only.
        "delayed": ScriptedSite({
            "/robots.txt": (200, {"Content-Type": "text/plain"},
                            f"User-agent: otherbot\nDisallow:\n\nUser-agent: expowatch\nCrawl-delay: {CRAWL_DELAY}\n"
                            f"Disallow: /private/\n".encode()),
            "/list.html": (200, {}, html('<a href="/a/2.html">2</a><a href="/a/3.html">3</a>'
                                         '<a href="/private/5.html">5</a>')),
            ARTICLE: articles, r"/private/\d+\.html": articles,
        }),
        # robots.txt forbids everything, but the source says obey_robots = false.
        "ignores": ScriptedSite({
            "/robots.txt": (200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /\n"),
            "/list.html": (200, {}, html('<a href="/a/4.html">4</a>')),
            ARTICLE: articles,
        }),
        # an article that fails twice with 500 before it loads: backoff between attempts.
        "flaky": ScriptedSite({
            "/feed.xml": feed_of("/a/7.html"),
            ARTICLE: lambda p, n: (500, {}, b"oops") if n <= 2 else articles(p, n),
        }),
        # download_delay = PACE and concurrency = 1 from the source declaration.
        "paced": ScriptedSite({"/feed.xml": feed_of("/a/8.html", "/a/9.html", "/a/10.html"), ARTICLE: articles}),
        # Retry-After of an hour: beyond the cap, so the crawl gives up at once with the reason.
        "closed": ScriptedSite({"/feed.xml": (503, {"Retry-After": "3600"}, b"closed for maintenance")}),
    }
    tmp = tmp_path_factory.mktemp("polite")
    sources = tmp / "sources.toml"
    sources.write_text("\n".join([
        source_toml("slowdown", feeds=[sites["slowdown"].url("/feed.xml")], article_pattern=ARTICLE),
        source_toml("delayed", list_pages=[sites["delayed"].url("/list.html")],
                    article_pattern=r"/(a|private)/\d+\.html$"),
        source_toml("ignores", list_pages=[sites["ignores"].url("/list.html")], article_pattern=ARTICLE,
                    obey_robots=False),
        source_toml("flaky", feeds=[sites["flaky"].url("/feed.xml")], article_pattern=ARTICLE),
        source_toml("paced", feeds=[sites["paced"].url("/feed.xml")], article_pattern=ARTICLE,
                    download_delay=PACE, concurrency=1),
        source_toml("closed", feeds=[sites["closed"].url("/feed.xml")]),
    ]))
    proc = expowatch(tmp, "crawl", "--sources-file", str(sources), "--db", str(tmp / "s.db"))
    yield sites, proc
    for site in sites.values():
        site.close()


def test_retry_after_is_waited_for(polite_crawl):
    sites, proc = polite_crawl
    first, second = sites["slowdown"].times("/feed.xml")
    assert second - first >= RETRY_AFTER - TIMING_SLACK
    assert "/a/1.html" in sites["slowdown"].paths()
    assert "slowdown: ok: 1 new" in proc.stdout + proc.stderr


def test_retry_after_beyond_the_cap_fails_now_with_the_reason(polite_crawl):
    sites, proc = polite_crawl
    assert sites["closed"].paths().count("/feed.xml") == 1
    assert proc.returncode == 1
    assert "Retry-After 3600 s" in proc.stderr and "left for the next run" in proc.stderr
    assert "source closed" in proc.stderr


def test_robots_disallow_and_crawl_delay_are_obeyed(polite_crawl):
    sites, proc = polite_crawl
    site = sites["delayed"]
    assert not any(p.startswith("/private/") for p in site.paths())
    times = site.times(r"/list\.html|" + ARTICLE)
    assert len(times) == 3
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= CRAWL_DELAY - TIMING_SLACK, gaps
    assert "delayed: ok: 2 new" in proc.stdout + proc.stderr


def test_a_source_may_ignore_robots(polite_crawl):
    sites, proc = polite_crawl
    assert "ignores: ok: 1 new" in proc.stdout + proc.stderr
    assert sites["ignores"].paths() == ["/list.html", "/a/4.html"]  # robots.txt not even asked


def test_retries_back_off(polite_crawl):
    sites, proc = polite_crawl
    attempts = sites["flaky"].times(ARTICLE)
    assert len(attempts) == 3
    assert attempts[1] - attempts[0] >= 0.5 - TIMING_SLACK  # EXPOWATCH_RETRY_BACKOFF
    assert attempts[2] - attempts[1] >= 1.0 - TIMING_SLACK  # doubled
    assert "flaky: ok: 1 new" in proc.stdout + proc.stderr


def test_a_source_sets_its_own_delay_and_concurrency(polite_crawl):
    sites, proc = polite_crawl
    times = sites["paced"].times(r"/feed\.xml|" + ARTICLE)
    assert len(times) == 4
    assert min(b - a for a, b in zip(times, times[1:])) >= PACE * (1 - JITTER) - TIMING_SLACK
    assert "paced: ok: 3 new" in proc.stdout + proc.stderr


def test_user_agent_names_the_tool(polite_crawl):
    sites, _ = polite_crawl
    agents = {hit.headers.get("User-Agent", "") for site in sites.values() for hit in site.hits}
    assert agents and all(agent.startswith("expowatch/") for agent in agents)
