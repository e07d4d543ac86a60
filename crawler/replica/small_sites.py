"""SmallSites: many small news sites, each on a loopback address of its own (127.0.x.y).

What a scheduler polling thousands of sources sees: every site serves an RSS feed of
its few articles, robots.txt and the article pages. The feed has an ETag and a
Last-Modified and answers 304 to a matching If-None-Match / If-Modified-Since, so an
unchanged site costs one small request. publish() adds a new article to every site.

All sites are served by one asyncio loop in a thread (a thousand servers, one thread),
with HTTP/1.1 keep-alive. A site can be told to hang (accept, never answer) or to
answer 500 to everything. Requests are counted per site and kind.

    with SmallSites(50, articles=3) as sites:
        path.write_text(sites.sources_toml())
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from .synthetic import english_paragraphs

FIRST_ADDRESS = (127, 0, 1, 1)  # 127.0.0.x is left to the other test servers
HOSTS_PER_BLOCK = 250  # 127.0.N.1 ... 127.0.N.250
SEED = 17  # the same n and articles always give the same pages
EPOCH = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)
MODES = ("ok", "hang", "error")


def site_address(index: int) -> str:
    """The loopback address of site number index."""
    a, b, c, d = FIRST_ADDRESS
    return f"{a}.{b}.{c + index // HOSTS_PER_BLOCK}.{d + index % HOSTS_PER_BLOCK}"


@dataclass
class SmallArticle:
    path: str
    title: str
    published: datetime
    paragraphs: list[str]


@dataclass
class SmallSite:
    name: str
    address: str
    port: int = 0
    articles: list[SmallArticle] = field(default_factory=list)
    mode: str = "ok"

    @property
    def base_url(self) -> str:
        return f"http://{self.address}:{self.port}"


class SmallSites:
    """n sites with `articles` articles each; see the module docstring."""

    def __init__(self, n: int, articles: int = 3, *, prefix: str = "small"):
        if n < 1 or n > 250 * HOSTS_PER_BLOCK:
            raise ValueError(f"n must be between 1 and {250 * HOSTS_PER_BLOCK}, got {n}")
        self._rng = random.Random(SEED)
        self.sites = [SmallSite(f"{prefix}-{i:05d}", site_address(i)) for i in range(n)]
        self._by_address = {site.address: site for site in self.sites}
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._published = 0
        for _ in range(articles):
            self._add_articles()
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._hanging: asyncio.Event | None = None

    # ---- content --------------------------------------------------------------
    def _add_articles(self) -> None:
        self._published += 1
        number = self._published
        for site in self.sites:
            title = f"{site.name} report {number}: " + " ".join(self._rng.sample(WORDS, 5))
            site.articles.append(SmallArticle(f"/news/{number}.html", title,
                                              EPOCH + timedelta(hours=number), english_paragraphs(self._rng)))

    def publish(self) -> None:
        """One new article on every site (their feeds change)."""
        with self._lock:
            self._add_articles()

    def articles_total(self) -> int:
        return sum(len(site.articles) for site in self.sites)

    def set_mode(self, name: str, mode: str) -> None:
        """"ok", "hang" (connections are accepted, never answered) or "error" (500 to everything)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        next(site for site in self.sites if site.name == name).mode = mode

    def request_counts(self) -> Counter[tuple[str, str]]:
        """Requests so far by (site, kind): robots, feed, feed_304, article, other, or hung (not answered)."""
        with self._lock:
            return Counter(self._counts)

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()

    def sources_toml(self, *, schedule: str = "0 0 1 1 *", download_delay: float = 0.0) -> str:
        """[[source]] declarations of every site (feed discovery, no delay, private address allowed)."""
        blocks = []
        for site in self.sites:
            blocks.append(
                f'[[source]]\nname = "{site.name}"\nhomepage = "{site.base_url}/"\n'
                f'feeds = ["{site.base_url}/feed.xml"]\narticle_pattern = "/news/\\\\d+\\\\.html$"\n'
                f'language = "en"\ntimezone = "UTC"\nschedule = "{schedule}"\n'
                f"download_delay = {download_delay}\nallow_private_addresses = true\n")
        return "\n".join(blocks)

    # ---- pages ------------------------------------------------------------------
    def _feed(self, site: SmallSite) -> tuple[bytes, str, str]:
        items = "".join(
            f"<item><title>{html.escape(a.title)}</title><link>{site.base_url}{a.path}</link>"
            f"<pubDate>{format_datetime(a.published, usegmt=True)}</pubDate></item>"
            for a in reversed(site.articles))
        body = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{site.name}</title>'
                f"<link>{site.base_url}/</link><description>news</description>{items}</channel></rss>").encode()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        return body, etag, format_datetime(site.articles[-1].published, usegmt=True)

    @staticmethod
    def _article(site: SmallSite, article: SmallArticle) -> bytes:
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in article.paragraphs)
        return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(article.title)}'
                f'</title><meta property="article:published_time" content="{article.published.isoformat()}">'
                f'</head><body><header><a href="/">{site.name}</a></header><main><article>'
                f"<h1>{html.escape(article.title)}</h1><time datetime=\"{article.published.isoformat()}\">"
                f"{article.published:%d %B %Y}</time>{paragraphs}</article></main>"
                f"<footer>Contact the newsroom of {site.name}.</footer></body></html>").encode()

    def _answer(self, site: SmallSite, path: str, headers: dict[str, str]) -> tuple[str, int, dict[str, str], bytes]:
        """(kind, status, headers, body) for one GET."""
        if site.mode == "error":
            return "other", 500, {"Content-Type": "text/plain"}, b"server error"
        if path == "/robots.txt":
            return "robots", 200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /private/\n"
        with self._lock:
            if path == "/feed.xml":
                body, etag, modified = self._feed(site)
                validators = {"ETag": etag, "Last-Modified": modified}
                if headers.get("if-none-match") == etag or (
                        "if-none-match" not in headers and headers.get("if-modified-since") == modified):
                    return "feed_304", 304, validators, b""
                return "feed", 200, {"Content-Type": "application/rss+xml", **validators}, body
            article = next((a for a in site.articles if a.path == path), None)
        if article is not None:
            return "article", 200, {"Content-Type": "text/html; charset=utf-8"}, self._article(site, article)
        return "other", 404, {"Content-Type": "text/plain"}, b"not found"

    # ---- serving ----------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = writer.get_extra_info("sockname")[0]
        site = self._by_address[address]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                if site.mode == "hang":
                    with self._lock:
                        self._counts[(site.name, "hung")] += 1
                    await self._hanging.wait()
                    return
                kind, status, extra, body = self._answer(site, target.split("?")[0], headers)
                with self._lock:
                    self._counts[(site.name, kind)] += 1
                reason = {200: "OK", 304: "Not Modified", 404: "Not Found", 500: "Internal Server Error"}[status]
                out = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", "Connection: keep-alive"]
                out += [f"{k}: {v}" for k, v in extra.items()]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + (body if method != "HEAD" else b""))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def _start_servers(self) -> None:
        self._hanging = asyncio.Event()
        for site in self.sites:
            server = await asyncio.start_server(self._serve, host=site.address, port=0, backlog=64)
            site.port = server.sockets[0].getsockname()[1]
            self._servers.append(server)

    def start(self) -> SmallSites:
        self._thread = threading.Thread(target=self._loop.run_forever, name="small-sites", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start_servers(), self._loop).result(timeout=120)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            self._hanging.set()
            for server in self._servers:
                server.close()
            for server in self._servers:
                await server.wait_closed()

        if self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
        self._thread = None

    def __enter__(self) -> SmallSites:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


WORDS = ("harbour", "summit", "delegates", "robotics", "pavilion", "forum", "signing", "startup", "exhibit",
         "keynote", "minister", "investment", "factory", "sensor", "platform", "network", "campus", "award",
         "partnership", "pilot", "district", "logistics", "battery", "satellite", "vaccine", "festival")
