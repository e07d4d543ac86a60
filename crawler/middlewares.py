"""Downloader middlewares for polite, incremental crawling.

- PoliteRetryMiddleware: Scrapy's retries plus exponential backoff and Retry-After
  (429/503) honoured up to a cap; a longer wait is left to the next run.
- CrawlDelayMiddleware: robots.txt Crawl-delay becomes the site's download-slot delay.
- ConditionalGetMiddleware: feeds, sitemaps and list pages are fetched with the
  ETag / Last-Modified stored in the http_cache table, so an unchanged page is a 304.

Scrapy itself ignores Retry-After and Crawl-delay; these fill the gap.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from time import monotonic
from typing import Any

from scrapy import signals
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import NotConfigured
from scrapy.http import Request, Response
from scrapy.utils.asyncio import call_later, sleep
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.threads import deferToThread
from scrapy.utils.response import response_status_message
from crawler.runrecord import store_batch
from storage.engine import resolve_db_url, session_factory
from storage.httpcache import load_validators, save_validators

logger = logging.getLogger(__name__)

# Request meta keys shared with spiders/generic.py.
KIND = "expowatch_kind"  # feed | sitemap | list | article
NOT_BEFORE = "expowatch_not_before"  # monotonic time before which a retried request must wait
GAVE_UP = "expowatch_gave_up"  # why a request was not retried (for the error message)
DISCOVERY_KINDS = frozenset({"feed", "sitemap", "list"})

RETRY_AFTER_STATUSES = frozenset({429, 503})  # the statuses where RFC 9110 gives Retry-After a meaning


def parse_retry_after(value: str | bytes | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def backoff_delay(retry_number: int, base: float, cap: float) -> float:
    """Exponential backoff: base, 2*base, 4*base ... for retries 1, 2, 3 ..., never above cap."""
    return min(cap, base * 2 ** max(0, retry_number - 1))


class PoliteRetryMiddleware(RetryMiddleware):
    """RetryMiddleware with backoff between attempts and Retry-After obeyed up to a cap.

    A Retry-After on 429/503 pauses the whole site (its download slot), not only the
    retried request; a Retry-After above EXPOWATCH_RETRY_AFTER_MAX is not waited for:
    the request fails now, with the reason, and the next scheduled run tries again.
    """

    def __init__(self, settings):
        super().__init__(settings)
        self.retry_after_max = settings.getfloat("EXPOWATCH_RETRY_AFTER_MAX")
        self.backoff_base = settings.getfloat("EXPOWATCH_RETRY_BACKOFF")
        self.backoff_max = settings.getfloat("EXPOWATCH_RETRY_BACKOFF_MAX")
        self.paused_until: dict[str, float] = {}  # download slot key -> monotonic time

    async def process_request(self, request: Request) -> None:
        """Hold a request until its own backoff and its site's pause are over."""
        key = self._slot_key(request)
        wait = max(request.meta.get(NOT_BEFORE, 0.0), self.paused_until.get(key, 0.0)) - monotonic()
        if wait > 0:
            await sleep(wait)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        retry_after = None
        if response.status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(response.headers.get(b"Retry-After"))
        if retry_after is not None and retry_after > self.retry_after_max:
            request.meta[GAVE_UP] = (f"HTTP {response.status} with Retry-After {retry_after:g} s, more than "
                                     f"the {self.retry_after_max:g} s this crawl waits; left for the next run")
            self.crawler.stats.inc_value("expowatch/retry_after/too_long")
            return response
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response
        if retry_after is not None:
            self.crawler.stats.inc_value("expowatch/retry_after/honoured")
            self._pause_site(request, retry_after)
            wait = retry_after
        else:
            wait = backoff_delay(retry.meta["retry_times"], self.backoff_base, self.backoff_max)
        retry.meta[NOT_BEFORE] = monotonic() + wait
        return retry

    def process_exception(self, request: Request, exception: Exception) -> Request | None:
        retry = super().process_exception(request, exception)
        if retry is not None:
            retry.meta[NOT_BEFORE] = monotonic() + backoff_delay(
                retry.meta["retry_times"], self.backoff_base, self.backoff_max)
        return retry

    def _slot_key(self, request: Request) -> str:
        return self.crawler.engine.downloader.get_slot_key(request)

    def _pause_site(self, request: Request, seconds: float) -> None:
        """No request leaves for this site until `seconds` from now, including ones already queued."""
        key = self._slot_key(request)
        until = monotonic() + seconds
        self.paused_until[key] = max(self.paused_until.get(key, 0.0), until)
        downloader = self.crawler.engine.downloader
        slot = downloader.slots.get(key)
        if slot is not None:
            # The downloader's own mechanism for holding a slot's queue (as DOWNLOAD_DELAY does).
            if slot.latercall:
                slot.latercall.cancel()
            slot.latercall = call_later(self.paused_until[key] - monotonic(), downloader._latercall, slot)


def keep_site_delay(downloader, key: str, delay: float) -> None:
    """The downloader keeps at least `delay` seconds, exactly (no jitter), between requests to the site
    (download slot) key, in its slot now and in one made for it later."""
    per_slot = downloader.per_slot_settings.setdefault(key, {})
    per_slot["delay"] = max(float(per_slot.get("delay", 0.0)), delay, downloader._delay)
    per_slot["jitter"] = 0.0
    slot = downloader.slots.get(key)
    if slot is not None:
        slot.delay = max(slot.delay, delay)
        slot.jitter = 0.0


class CrawlDelayMiddleware:
    """Applies robots.txt Crawl-delay (for our user agent) as the site's download delay.

    The delay is made exact (no jitter) so the site never sees requests closer than it
    asked; a Crawl-delay above EXPOWATCH_CRAWL_DELAY_MAX is reduced to it, with a warning.
    """

    def __init__(self, crawler):
        settings = crawler.settings
        if not settings.getbool("ROBOTSTXT_OBEY"):
            raise NotConfigured
        self.crawler = crawler
        self.user_agent = settings.get("ROBOTSTXT_USER_AGENT") or settings.get("USER_AGENT")
        self.max_delay = settings.getfloat("EXPOWATCH_CRAWL_DELAY_MAX")
        crawler.signals.connect(self.robots_parsed, signal=signals.robots_parsed)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def robots_parsed(self, robotparser, request: Request) -> None:
        crawl_delay = getattr(robotparser, "crawl_delay", None)
        delay = crawl_delay(self.user_agent) if crawl_delay else None
        if not delay or delay <= 0:
            return
        if delay > self.max_delay:
            logger.warning("robots.txt of %s asks for Crawl-delay %g s; using the %g s maximum",
                           request.url, delay, self.max_delay)
            delay = self.max_delay
        downloader = self.crawler.engine.downloader
        key = downloader.get_slot_key(request)
        keep_site_delay(downloader, key, delay)
        self.crawler.stats.set_value("expowatch/crawl_delay", delay)
        logger.info("%s: robots.txt Crawl-delay %g s applied", key, delay)


# -- conditional GET ----------------------------------------------------------------


def validator_headers(entry) -> dict[str, str]:
    """The conditional-GET headers for a page's stored validators (an http_cache row: etag, last_modified)."""
    headers = {}
    if entry.etag:
        headers["If-None-Match"] = entry.etag
    if entry.last_modified:
        headers["If-Modified-Since"] = entry.last_modified
    return headers


class ConditionalGetMiddleware:
    """If-None-Match / If-Modified-Since on discovery requests; a 304 reaches the spider unparsed.

    Validators from this run are saved only when the crawl finishes and every article
    found on that page was dealt with, so an interrupted crawl re-reads the page next time.
    Off for backfills (they want every page) and dry runs (no store).
    """

    def __init__(self, crawler):
        settings = crawler.settings
        if not settings.getbool("EXPOWATCH_CONDITIONAL_GET") or settings.getbool("EXPOWATCH_BACKFILL"):
            raise NotConfigured
        self.crawler = crawler
        url = resolve_db_url(settings.get("EXPOWATCH_DB_URL"))
        self.reader = session_factory(url, for_writing=False)  # lookups never wait for the store writer
        self.fetched: dict[str, dict[str, Any]] = {}
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        if request.meta.get(KIND) not in DISCOVERY_KINDS:
            return
        if getattr(self.crawler.spider, "backfill", False):  # resuming an unfinished run: read every page
            return
        # In a thread: a store read never blocks the reactor (and the other crawls of an engine).
        entry = await maybe_deferred_to_future(deferToThread(self._validators, request.url))
        if entry is None:
            return
        for name, value in validator_headers(entry).items():
            if name not in request.headers:
                request.headers[name] = value
        self.crawler.stats.inc_value("expowatch/conditional/sent")

    def _validators(self, url: str):
        with self.reader() as session:
            return load_validators(session, url)

    def process_response(self, request: Request, response: Response) -> Response:
        if request.meta.get(KIND) not in DISCOVERY_KINDS:
            return response
        now = datetime.now(timezone.utc)
        if response.status == 304:
            self.crawler.stats.inc_value("expowatch/conditional/not_modified")
            self.fetched[request.url] = {"checked_at": now}
        elif response.status == 200:
            etag = response.headers.get(b"ETag")
            last_modified = response.headers.get(b"Last-Modified")
            self.fetched[request.url] = {
                "etag": etag.decode("latin-1") if etag else None,
                "last_modified": last_modified.decode("latin-1") if last_modified else None,
                "checked_at": now,
            }
        return response

    async def spider_closed(self, spider, reason: str) -> None:
        if reason != "finished":
            logger.info("crawl ended early (%s): page validators not saved, pages are re-read next run", reason)
            return
        unsettled = getattr(spider, "unsettled_discovery", set())
        if "*" in unsettled:  # an article failed and its discovery page is unknown: keep none
            logger.info("an article failed: page validators not saved, pages are re-read next run")
            return
        keep = {url: values for url, values in self.fetched.items() if url not in unsettled}
        # Committed with the other crawls' ends, off the reactor thread; the crawl ends once it is.
        await maybe_deferred_to_future(store_batch(self.crawler.settings.get("EXPOWATCH_DB_URL")).submit(
            lambda session: save_validators(session, keep)))
