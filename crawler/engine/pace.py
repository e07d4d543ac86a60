"""Limits that hold across all the crawls of one engine: requests at once, and each site's pace.

Inside one crawl Scrapy's downloader already keeps CONCURRENT_REQUESTS and each site's
delay (DOWNLOAD_DELAY, robots.txt Crawl-delay via crawler.middlewares). An engine runs
many crawls, each with a downloader of its own, so two sources on one site would each
keep their own delay and together hit it twice as often, and dozens of crawls could open
hundreds of connections at once. EngineDownloadHandler takes, before each download:

- a turn of the site (the download slot key, i.e. the host): when the site's previous
  request came from another crawl of this engine, this one waits until that request's
  time plus the site's delay (the larger of the two crawls' delays); after the crawl's own
  request, the shortest gap its downloader could have left (its delay less Scrapy's
  jitter), because requests that waited here for another crawl's turn reach the site
  together otherwise; a 429/503 with a Retry-After (up to EXPOWATCH_RETRY_AFTER_MAX)
  pauses the site for every crawl;
- one of EXPOWATCH_ENGINE_MAX_REQUESTS request slots shared by every crawl of the engine
  (a request that waited for a slot checks the site's turn again before it goes).

It also keeps each crawl's downloads in flight, so that closing a crawl (its timeout) can
cancel them: Scrapy's close waits for in-flight downloads, and a site that accepted the
connection but never answers would hold the close for the whole DOWNLOAD_TIMEOUT.

The limits live in the engine process (one EngineLimits per process, made on first use).
"""

from __future__ import annotations

from dataclasses import dataclass
from time import monotonic

from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.utils.asyncio import sleep
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet.defer import CancelledError, Deferred, DeferredSemaphore
from twisted.python.failure import Failure

from crawler.engine.protocol import DEFAULT_MAX_REQUESTS
from crawler.http_handler import KeepAliveDownloadHandler
from crawler.middlewares import RETRY_AFTER_STATUSES, parse_retry_after

MAX_REQUESTS_SETTING = "EXPOWATCH_ENGINE_MAX_REQUESTS"
# A site's turn is forgotten after this long without a request (a long-lived engine sees
# thousands of sites); far above any delay or Retry-After a crawl waits for.
IDLE_SITE_S = 3600.0


# A request's crawl as the limits know it, when it is not its crawler's: the pre-check sends many
# sources' requests through one crawler, each source's with a key of its own (closed alone).
PACE_KEY = "expowatch_pace_key"


class CrawlClosed(IgnoreRequest):
    """A download cancelled because its crawl was closed (timeout, shutdown): no verdict on the site."""


class _Download:
    """A download in flight whose outcome can be decided early: cancelled when its crawl closes.

    Cancelling the handler's own Deferred does not end an asyncio-wrapped download at once
    (it ends at DOWNLOAD_TIMEOUT); the request waits on `outcome`, which is failed at once.
    """

    def __init__(self, inner: Deferred):
        self.inner = inner
        self.outcome: Deferred = Deferred()
        inner.addBoth(self._settle)

    def _settle(self, result):
        if not self.outcome.called:
            self.outcome.callback(result)  # a Failure errbacks

    def cancel(self) -> None:
        if not self.outcome.called:
            self.outcome.errback(Failure(CancelledError()))
        self.inner.cancel()


@dataclass
class _SiteTurn:
    crawl: int  # id() of the crawler that sent the site's latest request
    at: float  # monotonic time that request left
    delay: float  # the delay that crawl keeps for the site
    paused_until: float = 0.0  # a Retry-After in force for every crawl


class EngineLimits:
    """The request slots and site turns shared by every crawl of this process."""

    def __init__(self, max_requests: int):
        if max_requests < 1:
            raise ValueError(f"{MAX_REQUESTS_SETTING} must be at least 1, got {max_requests}")
        self.max_requests = max_requests
        self.requests = DeferredSemaphore(max_requests)
        self.sites: dict[str, _SiteTurn] = {}
        self.downloads: dict[int, set[_Download]] = {}  # crawl -> its downloads in flight
        self.cancelled: dict[int, str] = {}  # crawl -> why its downloads were cancelled
        self.next_sweep = 0.0  # when forget_idle runs next

    def wait_for(self, site: str, crawl: int, delay: float, now: float, jitter: float = 0.0) -> float:
        """Seconds this crawl must still wait before sending to site (0: go now).

        After another crawl's request: the larger of the two delays. After its own: the
        shortest gap the crawl's downloader itself may leave, delay * (1 - jitter).
        """
        turn = self.sites.get(site)
        if turn is None:
            return 0.0
        if turn.crawl != crawl:
            gap = max(delay, turn.delay)
        else:
            gap = delay * max(0.0, 1.0 - jitter)
        return max(0.0, turn.paused_until - now, turn.at + gap - now)

    def take(self, site: str, crawl: int, delay: float, now: float) -> None:
        """Record that crawl sends to site now."""
        previous = self.sites.get(site)
        paused = previous.paused_until if previous else 0.0
        self.sites[site] = _SiteTurn(crawl, now, delay, paused)
        if now >= self.next_sweep:
            self.forget_idle(now)
            self.next_sweep = now + IDLE_SITE_S / 4

    def pause(self, site: str, seconds: float, now: float) -> None:
        """No crawl sends to site for `seconds` from now (a wait already longer stays)."""
        turn = self.sites.setdefault(site, _SiteTurn(0, now, 0.0))
        turn.paused_until = max(turn.paused_until, now + seconds)

    def cancel_downloads(self, crawl: int, reason: str) -> int:
        """Cancel the crawl's downloads in flight (and any it starts later); returns how many."""
        self.cancelled[crawl] = reason
        downloads = list(self.downloads.get(crawl, ()))
        for download in downloads:
            download.cancel()
        return len(downloads)

    def forget_crawl(self, crawl: int) -> None:
        self.downloads.pop(crawl, None)
        self.cancelled.pop(crawl, None)

    def forget_idle(self, now: float, idle: float = IDLE_SITE_S) -> None:
        """Drop sites not requested for `idle` seconds (a long-lived engine sees thousands)."""
        for site in [s for s, t in self.sites.items() if now - max(t.at, t.paused_until) > idle]:
            del self.sites[site]


_limits: EngineLimits | None = None


def engine_limits(max_requests: int = DEFAULT_MAX_REQUESTS) -> EngineLimits:
    """This process's limits (made with max_requests on first use)."""
    global _limits
    if _limits is None:
        _limits = EngineLimits(max_requests)
    return _limits


class EngineDownloadHandler(KeepAliveDownloadHandler):
    """The HTTP handler (crawler.http_handler) taking the engine's site turn and a request slot first."""

    def __init__(self, crawler):
        super().__init__(crawler)
        self.limits = engine_limits(crawler.settings.getint(MAX_REQUESTS_SETTING, DEFAULT_MAX_REQUESTS))
        self.retry_after_max = crawler.settings.getfloat("EXPOWATCH_RETRY_AFTER_MAX")

    async def download_request(self, request: Request) -> Response:
        downloader = self.crawler.engine.downloader
        site = downloader.get_slot_key(request)
        slot = downloader.slots.get(site)  # made by the downloader before the request reaches a handler
        delay = slot.delay if slot is not None else self.crawler.settings.getfloat("DOWNLOAD_DELAY")
        jitter = slot.jitter if slot is not None else 0.0
        crawl = request.meta.get(PACE_KEY, id(self.crawler))
        while True:
            while (wait := self.limits.wait_for(site, crawl, delay, monotonic(), jitter)) > 0:
                self.crawler.stats.inc_value("expowatch/engine/site_wait_ms", round(wait * 1000))
                await sleep(wait)
            await maybe_deferred_to_future(self.limits.requests.acquire())
            if self.limits.wait_for(site, crawl, delay, monotonic(), jitter) <= 0:
                break
            self.limits.requests.release()  # another request took the site's turn while this one queued
        download = None
        try:
            self.limits.take(site, crawl, delay, monotonic())
            if crawl in self.limits.cancelled:
                raise CancelledError()
            download = _Download(deferred_from_coro(super().download_request(request)))
            self.limits.downloads.setdefault(crawl, set()).add(download)
            response = await maybe_deferred_to_future(download.outcome)
        except CancelledError:
            reason = self.limits.cancelled.get(crawl, "cancelled")
            raise CrawlClosed(f"download cancelled: the crawl was closed ({reason})") from None
        finally:
            self.limits.requests.release()
            if download is not None:
                self.limits.downloads.get(crawl, set()).discard(download)
        if response.status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(response.headers.get(b"Retry-After"))
            if retry_after and retry_after <= self.retry_after_max:
                self.limits.pause(site, retry_after, monotonic())
        return response
