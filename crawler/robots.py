"""robots.txt obeyed from the store's cache: one request per site a day, not one per crawl.

CachedRobotsTxtMiddleware takes the place of Scrapy's RobotsTxtMiddleware (same settings,
stats, IgnoreRequest message and robots_parsed signal, so crawler.middlewares'
CrawlDelayMiddleware still sees Crawl-delay). For each site (scheme://host[:port]) of a
crawl it reads the robots_cache table in a thread (never on the reactor), and:

- a fresh entry is parsed and used: no request at all;
- a stale or missing one is fetched (conditionally, with the cached ETag / Last-Modified),
  and the answer stored for the next crawls (in a thread; not through the store writer,
  whose batches belong to the articles);
- a fetch that fails (network error, 5xx) falls back to a stale entry if there is one,
  else to Scrapy's behaviour (allowed); it is not cached.

How long an entry lives: the response's Cache-Control max-age (or Expires), never more
than EXPOWATCH_ROBOTS_MAX_AGE (24 h: RFC 9309 asks crawlers not to use a cached
robots.txt longer than that); no-store / no-cache: not reused. Dry runs have no store:
robots.txt is fetched for each crawl, as Scrapy does.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from functools import partial

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Request, Response
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler, load_object
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from crawler.safety import REQUEST_SOURCE
from storage.engine import resolve_db_url, session_factory
from storage.robots import load_robots, save_robots

logger = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 24 * 3600  # seconds; RFC 9309 section 2.4: no longer than 24 hours
CACHEABLE = range(200, 500)  # 2xx: the rules; 4xx: "no rules" (allowed). 5xx and errors say nothing
STAT = "expowatch/robots/"


def cache_seconds(response: Response, now: datetime, max_age: float) -> float:
    """How long a robots.txt response may be reused: its caching headers, at most max_age."""
    control = response.headers.get(b"Cache-Control", b"").decode("latin-1").lower()
    if "no-store" in control or "no-cache" in control:
        return 0.0
    match = re.search(r"max-age\s*=\s*(\d+)", control)
    if match:
        return min(float(match.group(1)), max_age)
    expires = response.headers.get(b"Expires")
    if expires:
        try:
            when = parsedate_to_datetime(expires.decode("latin-1"))
        except (TypeError, ValueError, IndexError):
            return 0.0  # an unreadable Expires means "already expired" (RFC 9111 5.3)
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, min((when - now).total_seconds(), max_age))
    return max_age


class CachedRobotsTxtMiddleware:
    """Scrapy's robots.txt middleware with the store's robots_cache in front; see the module docstring."""

    DOWNLOAD_PRIORITY = 1000

    def __init__(self, crawler):
        settings = crawler.settings
        if not settings.getbool("ROBOTSTXT_OBEY"):
            raise NotConfigured
        self.crawler = crawler
        self.stats = crawler.stats
        self.user_agent = settings.get("ROBOTSTXT_USER_AGENT")
        self.default_user_agent = settings.get("USER_AGENT")
        self.parser_class = load_object(settings.get("ROBOTSTXT_PARSER"))
        self.max_age = settings.getfloat("EXPOWATCH_ROBOTS_MAX_AGE", DEFAULT_MAX_AGE)
        self.db_url = None if settings.getbool("EXPOWATCH_DRY_RUN") else resolve_db_url(
            settings.get("EXPOWATCH_DB_URL"))
        self.parsers: dict[str, object] = {}  # origin -> parser (None: allow everything)
        self.waiting: dict[str, list[Deferred]] = {}  # origin -> requests waiting for its robots.txt

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        if request.meta.get("dont_obey_robotstxt") or not request.url.startswith(("http://", "https://")):
            return
        parser = await self.parser_for(request)
        if parser is None:
            return
        user_agent = self.user_agent or request.headers.get(b"User-Agent", self.default_user_agent)
        if not parser.allowed(request.url, user_agent):
            logger.debug("Forbidden by robots.txt: %s", request)
            self.stats.inc_value("robotstxt/forbidden")
            raise IgnoreRequest("Forbidden by robots.txt")

    async def parser_for(self, request: Request):
        """The parsed robots.txt of the request's site (None: everything allowed)."""
        url = urlparse_cached(request)
        origin = f"{url.scheme}://{url.netloc}"
        if origin in self.parsers:
            return self.parsers[origin]
        if origin in self.waiting:
            waiter: Deferred = Deferred()
            self.waiting[origin].append(waiter)
            return await maybe_deferred_to_future(waiter)
        self.waiting[origin] = []
        parser = None
        try:
            parser = await self._load(origin, request)
        except Exception as exc:  # noqa: BLE001 - as Scrapy: a robots.txt that cannot be had allows everything
            if not isinstance(exc, IgnoreRequest):
                logger.error("Error downloading %s/robots.txt: %s", origin, exc)
                self.stats.inc_value(f"robotstxt/exception_count/{type(exc)}")
        self.parsers[origin] = parser
        for waiter in self.waiting.pop(origin):
            waiter.callback(parser)
        return parser

    async def _load(self, origin: str, request: Request):
        now = datetime.now(timezone.utc)
        cached = None
        if self.db_url is not None:
            cached = await maybe_deferred_to_future(deferToThread(self._read, origin))
        if cached is not None and cached.expires_at > now:
            self.stats.inc_value(STAT + "cached")
            return await self._parsed(cached.body, request)
        meta = {"dont_obey_robotstxt": True}
        if REQUEST_SOURCE in request.meta:  # checked by the address guard as the source's own requests are
            meta[REQUEST_SOURCE] = request.meta[REQUEST_SOURCE]
        robots = Request(f"{origin}/robots.txt", priority=self.DOWNLOAD_PRIORITY, callback=NO_CALLBACK,
                         meta=meta, dont_filter=True)
        if cached is not None and cached.etag:
            robots.headers[b"If-None-Match"] = cached.etag
        if cached is not None and cached.last_modified:
            robots.headers[b"If-Modified-Since"] = cached.last_modified
        try:
            response = await self.crawler.engine.download_async(robots)
        except Exception:
            if cached is None:
                raise
            self.stats.inc_value(STAT + "stale_used")
            logger.warning("%s/robots.txt could not be fetched: using the copy fetched %s", origin,
                           cached.fetched_at.isoformat(timespec="seconds"))
            return await self._parsed(cached.body, request)
        self.stats.inc_value("robotstxt/request_count")
        self.stats.inc_value("robotstxt/response_count")
        self.stats.inc_value(f"robotstxt/response_status_count/{response.status}")
        if response.status == 304 and cached is not None:
            self.stats.inc_value(STAT + "not_modified")
            status, body = cached.status, cached.body
        elif response.status >= 500 and cached is not None:
            self.stats.inc_value(STAT + "stale_used")
            return await self._parsed(cached.body, request)
        else:
            status, body = response.status, response.body if response.status < 400 else b""
        if self.db_url is not None and status in CACHEABLE:
            self._store(origin, status, body, response, now)
        return await self._parsed(body, request)

    def _read(self, origin: str):
        with session_factory(self.db_url, for_writing=False)() as session:
            return load_robots(session, origin)

    def _store(self, origin: str, status: int, body: bytes, response: Response, now: datetime) -> None:
        """Remember the answer for the next crawls: one small transaction in a thread (this does not wait)."""
        seconds = cache_seconds(response, now, self.max_age)
        if seconds <= 0:
            return
        header = lambda name: (response.headers.get(name) or b"").decode("latin-1") or None  # noqa: E731
        job = partial(save_robots, origin=origin, status=status, body=body, etag=header(b"ETag"),
                      last_modified=header(b"Last-Modified"), fetched_at=now,
                      expires_at=now + timedelta(seconds=seconds))
        deferToThread(self._write, job).addErrback(
            lambda failure: logger.warning("%s/robots.txt could not be cached: %s", origin, failure.getErrorMessage()))

    def _write(self, job) -> None:
        with session_factory(self.db_url).begin() as session:
            job(session)

    async def _parsed(self, body: bytes, request: Request):
        parser = build_from_crawler(self.parser_class, self.crawler, body)
        await self.crawler.signals.send_catch_log_async(signal=signals.robots_parsed, robotparser=parser,
                                                        request=request)
        return parser
