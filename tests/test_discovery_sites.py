"""Small scripted sites for behaviour the replica web does not model (traps, misbehaving
servers, robots rules), plus the crawls that use them for discovery traps.

ScriptedSite is shared with tests/test_politeness.py.
"""

from __future__ import annotations

import gzip
import os
import random
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Callable

import pytest
from loopback import serve, stop
from waiting import wait_until

pytestmark = pytest.mark.integration

Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Hit:
    """One request as the server saw it."""

    at: float  # time.monotonic() on arrival
    path: str
    headers: dict[str, str]


@dataclass
class ScriptedSite:
    """A site on 127.0.0.1 whose pages are functions of (path, how many times it was asked).

    routes maps a path (or a regex matched against the whole path with query) to a Reply
    or to a function (path, nth) -> Reply; nth counts from 1 per path.
    """

    routes: dict[str, Reply | Callable[[str, int], Reply]]
    hits: list[Hit] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self.server = serve(self._answer)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def paths(self) -> list[str]:
        with self._lock:
            return [h.path for h in self.hits]

    def times(self, pattern: str = ".*") -> list[float]:
        """Arrival times of the requests whose path matches pattern."""
        with self._lock:
            return [h.at for h in self.hits if re.fullmatch(pattern, h.path)]

    def wait_for(self, pattern: str, count: int, timeout: float = 60) -> None:
        """Block until `count` requests matching pattern have arrived (or fail after timeout)."""
        with self._lock:
            arrived = self._lock.wait_for(
                lambda: sum(1 for h in self.hits if re.fullmatch(pattern, h.path)) >= count, timeout)
        assert arrived, f"{count} requests for {pattern} did not arrive within {timeout} s: {self.paths()}"

    def close(self) -> None:
        stop(self.server)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.hits.append(Hit(time.monotonic(), handler.path, dict(handler.headers)))
            nth = sum(1 for h in self.hits if h.path == handler.path)
            self._lock.notify_all()
        reply = self._route(handler.path)
        status, headers, body = reply(handler.path, nth) if callable(reply) else reply
        handler.send_response(status)
        headers = {"Content-Type": "text/html; charset=utf-8", **headers, "Content-Length": str(len(body))}
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        try:
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client was killed mid-test
            pass

    def _route(self, path: str):
        if path in self.routes:
            return self.routes[path]
        for pattern, reply in self.routes.items():
            if re.fullmatch(pattern, path):
                return reply
        if path == "/robots.txt":
            return 200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow:\n"
        return 404, {}, b"<html><body>not here</body></html>"


def html(body: str, title: str = "Page") -> bytes:
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head><body>{body}</body></html>".encode()


TOPICS = ("assembly arms", "delivery drones", "speech models", "battery packs", "smart meters", "chip fabs",
          "port cranes", "hospital robots", "crop sensors", "traffic lights", "train signals", "weather radars")
FIRMS = ("Tianjin", "Chongqing", "Nanjing", "Wuzhen", "Shenzhen", "Hefei", "Xi'an", "Wuhan", "Suzhou", "Chengdu")


def article_page(number: int) -> Reply:
    """An English news article, distinct for each number (so dedup keeps them apart)."""
    rng = random.Random(number)
    title = f"Report {number}: {rng.choice(TOPICS)} draw crowds at the expo"
    paragraphs = "".join(
        f"<p>On day {number} visitors from {rng.choice(FIRMS)} watched {rng.choice(TOPICS)} and "
        f"{rng.choice(TOPICS)} at stand {rng.randint(1, 900)}, while a team from {rng.choice(FIRMS)} "
        f"explained how {rng.randint(2, 40)} engineers cut setup time by {rng.randint(5, 60)} percent.</p>"
        for _ in range(6)
    )
    body = (f"<article><h1>{title}</h1><p class='date'>Published 2024-06-{(number % 27) + 1:02d} 09:00</p>"
            f"{paragraphs}</article>")
    return 200, {}, html(body, title)


def rss(links: list[str]) -> bytes:
    items = "".join(f"<item><title>Item {i}</title><link>{link}</link></item>" for i, link in enumerate(links))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>/</link>{items}'
            f"</channel></rss>").encode()


def source_toml(name: str, **keys) -> str:
    """One [[source]] table; replica-style defaults: no delay, local addresses allowed."""
    keys = {"download_delay": 0, "concurrency": 2, "language": "en", "allow_private_addresses": True, **keys}
    lines = ["[[source]]", f'name = "{name}"']
    for key, value in keys.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, (int, float)):
            lines.append(f"{key} = {value}")
        elif isinstance(value, list):
            lines.append(f"{key} = [{', '.join(repr(v).replace(chr(39), chr(34)) for v in value)}]")
        else:
            lines.append(f"{key} = '{value}'")
    return "\n".join(lines) + "\n"


@pytest.fixture
def site():
    """Start a ScriptedSite; stopped after the test."""
    started: list[ScriptedSite] = []

    def start(routes) -> ScriptedSite:
        started.append(ScriptedSite(routes))
        return started[-1]

    yield start
    for s in started:
        s.close()


def crawl_env(tmp: Path, **extra: str) -> dict[str, str]:
    """Environment for a crawl subprocess outside the function-scoped run_cli fixture."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPOWATCH_")}
    env["XDG_DATA_HOME"] = str(tmp / "xdg")
    return {**env, **extra}


def expowatch(tmp: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    """Run `expowatch ARGS` in a subprocess (module-scoped fixtures cannot use run_cli)."""
    return subprocess.run([sys.executable, "-m", "crawler.cli", *args], capture_output=True, text=True,
                          timeout=180, env=crawl_env(tmp, **extra_env))


def stored_urls(db_path: Path) -> set[str]:
    with sqlite3.connect(db_path) as conn:
        return {row[0] for row in conn.execute("SELECT canonical_url FROM articles")}


# -- traps -------------------------------------------------------------------------------


def day_page(path: str, nth: int) -> Reply:
    """A calendar archive: every day links a story and 'Next' (the following day), forever."""
    day = int(re.search(r"(\d+)$", path).group(1))
    return 200, {}, html(f'<a href="/a/{day % 3}.html">story</a><a href="/archive/{day + 1}">Next</a>')


def test_pagination_traps_end(tmp_path, site, run_cli):
    """A never-ending calendar stops at max_pages with a warning; a pager that loops back stops.
    (And EXPOWATCH_USER_AGENT replaces the User-Agent.)"""
    articles = {r"/a/\d+\.html": lambda p, n: article_page(int(re.search(r"\d+", p).group())),
                r"/b/\d+\.html": lambda p, n: article_page(10 + int(re.search(r"\d+", p).group()))}
    calendar = site({r"/archive/\d+": day_page, **articles})
    looping = site({
        "/list": (200, {}, html('<a href="/b/1.html">one</a><a href="/list?page=2">下一页</a>')),
        "/list?page=2": (200, {}, html('<a href="/b/2.html">two</a><a href="/list">下一页</a>')),
        **articles,
    })
    sources = tmp_path / "sources.toml"
    sources.write_text(
        source_toml("calendar", list_pages=[calendar.url("/archive/1")], article_pattern=r"/a/\d+\.html$",
                    max_pages=6)
        + source_toml("looping", list_pages=[looping.url("/list")], article_pattern=r"/b/\d+\.html$"))
    db = tmp_path / "store.db"
    agent = "newsdesk-monitor/2.0 (+mailto:ops@example.org)"
    proc = run_cli("crawl", "--sources-file", str(sources), "--db", str(db), "--backfill", "-v",
                   env={"EXPOWATCH_USER_AGENT": agent})
    assert proc.returncode == 0, proc.stderr
    assert {hit.headers.get("User-Agent") for hit in calendar.hits + looping.hits} == {agent}
    assert [p for p in calendar.paths() if p.startswith("/archive/")] == [f"/archive/{n}" for n in range(1, 7)]
    assert "page cap max_pages = 6 reached" in proc.stderr
    assert sorted(looping.paths()) == ["/b/1.html", "/b/2.html", "/list", "/list?page=2", "/robots.txt"]
    assert len(stored_urls(db)) == 3 + 2


# -- sitemaps ------------------------------------------------------------------------------


def test_sitemap_index_with_gzip_and_news_children_skips_unchanged_children(tmp_path, site, run_cli):
    """An index of a gzipped archive sitemap (old lastmod) and a Google News sitemap (lastmod
    moves on each fetch): the second crawl reads the index, skips the archive, re-reads the news."""

    def index(path: str, nth: int) -> Reply:
        now = (datetime.now(timezone.utc) + timedelta(seconds=1)).isoformat(timespec="seconds")  # after any earlier read
        body = ('<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                "<sitemap><loc>/archive.xml.gz</loc><lastmod>2020-01-01</lastmod></sitemap>"
                f"<sitemap><loc>/news.xml</loc><lastmod>{now}</lastmod></sitemap></sitemapindex>")
        return 200, {"Content-Type": "application/xml"}, body.encode()

    archive = ('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
               + "".join(f"<url><loc>/e/{n}.html</loc><lastmod>2019-0{n}-01</lastmod></url>" for n in (1, 2))
               + "</urlset>")
    news = ('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url><loc>/e/3.html</loc>'
            "<news:news><news:publication_date>2024-06-02T18:45:00+08:00</news:publication_date></news:news>"
            "</url></urlset>")
    web = site({
        "/sitemap_index.xml": index,
        "/archive.xml.gz": (200, {"Content-Type": "application/x-gzip"}, gzip.compress(archive.encode())),
        "/news.xml": (200, {"Content-Type": "application/xml"}, news.encode()),
        r"/e/\d+\.html": lambda path, nth: article_page(50 + int(re.search(r"\d+", path).group())),
    })
    sources = tmp_path / "sources.toml"
    sources.write_text(source_toml("maps", sitemaps=[web.url("/sitemap_index.xml")], article_pattern=r"/e/\d+\.html$"))
    db = tmp_path / "store.db"
    for _ in range(2):
        proc = run_cli("crawl", "--sources-file", str(sources), "--db", str(db))
        assert proc.returncode == 0, proc.stderr
    assert stored_urls(db) == {web.url(f"/e/{n}.html") for n in (1, 2, 3)}
    # robots.txt once: the second crawl reads it from the store's robots cache (crawler/robots.py)
    assert Counter(web.paths()) == Counter({"/robots.txt": 1, "/sitemap_index.xml": 2, "/news.xml": 2,
                                            "/archive.xml.gz": 1, "/e/1.html": 1, "/e/2.html": 1, "/e/3.html": 1})


# -- interrupted crawls ---------------------------------------------------------------------

REPO = Path(__file__).resolve().parent.parent
STORE_WAIT = 60  # seconds; a bound, not a pace: the loop ends as soon as the store has the articles


def stored_so_far(db: Path) -> int:
    """Articles a running crawl has stored yet (0 before it has created the store)."""
    try:
        return len(stored_urls(db)) if db.exists() else 0
    except sqlite3.OperationalError:  # the crawl is still creating the schema
        return 0


def test_a_killed_crawl_resumes_from_the_store(tmp_path, site, cli_env):
    """kill -9 mid-crawl; `scrapy crawl NAME` (a TOML source via EXPOWATCH_SOURCES) then fetches
    exactly the articles the store lacks and re-reads the list page (no validators were saved)."""
    release = threading.Event()
    arrivals = iter(range(1, 1000))

    def article(path: str, nth: int) -> Reply:
        if next(arrivals) > 2:  # the first two articles answer; the rest hang until released
            release.wait(STORE_WAIT)
        return article_page(20 + int(re.search(r"\d+", path).group()))

    links = "".join(f'<a href="/c/{n}.html">story {n}</a>' for n in range(1, 6))
    web = site({"/list": (200, {"ETag": '"v1"'}, html(links)), r"/c/\d+\.html": article})
    sources = tmp_path / "sources.toml"
    sources.write_text(source_toml("resume", list_pages=[web.url("/list")], article_pattern=r"/c/\d+\.html$"))
    db = tmp_path / "store.db"
    crawl = subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", "crawl", "--sources-file", str(sources), "--db", str(db)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=cli_env)
    try:
        web.wait_for(r"/c/\d+\.html", 3)
        wait_until(lambda: stored_so_far(db) == 2, "the first two articles to be stored", timeout=STORE_WAIT)
    finally:
        crawl.kill()
        crawl.wait()
        release.set()
    stored_before = stored_urls(db)
    first_run = len(web.hits)

    proc = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "resume", "-s", f"EXPOWATCH_DB_URL=sqlite:///{db}"],
        capture_output=True, text=True, timeout=180, cwd=REPO, env={**cli_env, "EXPOWATCH_SOURCES": str(sources)})
    assert proc.returncode == 0, proc.stderr
    second = web.hits[first_run:]
    all_articles = {web.url(f"/c/{n}.html") for n in range(1, 6)}
    assert {web.url(h.path) for h in second if h.path.startswith("/c/")} == all_articles - stored_before
    (list_hit,) = [h for h in second if h.path == "/list"]
    assert "If-None-Match" not in list_hit.headers
    assert stored_urls(db) == all_articles
    with sqlite3.connect(db) as conn:
        statuses = [row[0] for row in conn.execute("SELECT status FROM crawl_runs ORDER BY id")]
    assert statuses == ["failed", "ok"]  # the killed run is recorded as interrupted


def test_first_crawl_pages_past_a_list_page_the_feed_already_stored(tmp_path, site, cli_env):
    """The feed's articles are stored before list page 1 arrives; page 2 (older, not in the
    feed) must still be read: articles stored by this very run count as new for paging."""
    release = threading.Event()

    def first_list_page(path: str, nth: int) -> Reply:
        release.wait(STORE_WAIT)
        return 200, {}, html("".join(f'<a href="/d/{n}.html">{n}</a>' for n in (1, 2, 3))
                             + '<a href="/list?page=2">Next</a>')

    web = site({
        "/feed.xml": (200, {"Content-Type": "application/rss+xml"}, rss([f"/d/{n}.html" for n in (1, 2, 3)])),
        "/list": first_list_page,
        "/list?page=2": (200, {}, html('<a href="/d/4.html">4</a><a href="/d/5.html">5</a>')),
        r"/d/\d+\.html": lambda path, nth: article_page(40 + int(re.search(r"\d+", path).group())),
    })
    sources = tmp_path / "sources.toml"
    sources.write_text(source_toml("race", feeds=[web.url("/feed.xml")], list_pages=[web.url("/list")],
                                   article_pattern=r"/d/\d+\.html$"))
    db = tmp_path / "store.db"
    crawl = subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", "crawl", "--sources-file", str(sources), "--db", str(db)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=cli_env)
    try:
        wait_until(lambda: stored_so_far(db) == 3, "the feed's three articles to be stored", timeout=STORE_WAIT)
    finally:
        release.set()
    _, stderr = crawl.communicate(timeout=180)
    assert crawl.returncode == 0, stderr
    assert stored_urls(db) == {web.url(f"/d/{n}.html") for n in range(1, 6)}


# -- the documented spider subclass ------------------------------------------------------


def doc_block(language: str, containing: str) -> str:
    """The fenced code block of docs/adding-a-source.md in `language` that contains a string."""
    text = (REPO / "docs" / "adding-a-source.md").read_text(encoding="utf-8")
    return next(b for b in re.findall(rf"```{language}\n(.*?)```", text, re.S) if containing in b)


def test_the_documented_spider_subclass_crawls_a_json_api(tmp_path, site, cli_env):
    """docs/adding-a-source.md's JSON-API spider, run as written, with its TOML declaration."""
    api = {
        "/api/news?page=1": (200, {"Content-Type": "application/json"},
                             b'{"items": [{"url": "/news/1.html", "time": "2024-06-01T10:00:00+08:00"},'
                             b' {"url": "/news/2.html"}], "next": "/api/news?page=2"}'),
        "/api/news?page=2": (200, {"Content-Type": "application/json"},
                             b'{"items": [{"url": "/news/3.html"}], "next": null}'),
        r"/news/\d+\.html": lambda path, nth: article_page(30 + int(re.search(r"\d+", path).group())),
    }
    web = site(api)
    package = tmp_path / "docspiders"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "expo_api.py").write_text(doc_block("python", "class ExpoApiSpider"))
    sources = tmp_path / "sources.toml"
    sources.write_text(doc_block("toml", 'name = "expo-api"').replace("https://api.expo.example.org", web.base)
                       + "download_delay = 0\nallow_private_addresses = true\n")
    db = tmp_path / "store.db"
    proc = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "expo-api", "-s", "SPIDER_MODULES=spiders,docspiders",
         "-s", f"EXPOWATCH_DB_URL=sqlite:///{db}"],
        capture_output=True, text=True, timeout=180, cwd=REPO,
        env={**cli_env, "EXPOWATCH_SOURCES": str(sources), "PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert stored_urls(db) == {web.url(f"/news/{n}.html") for n in (1, 2, 3)}
    assert web.paths().count("/api/news?page=2") == 1
