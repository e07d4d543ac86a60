"""One pace per site for all workers together: a turn in Redis before each download.

Scrapy's DOWNLOAD_DELAY spaces requests within one process; N workers would hit a site N
times as often. Here every HTTP(S) download first takes the site's turn: a Redis key
(expowatch:pace:<site>, site = Scrapy's download slot, i.e. the host name) set with a TTL of
the slot's delay (the source's download_delay, or a longer robots.txt Crawl-delay). While
the key lives, no worker may send to that site; taking it is one atomic script, so two
workers never get the same turn. The turn is taken in the download handler, when the
request actually leaves, not when it is queued in the downloader.

A 429/503 Retry-After (up to EXPOWATCH_RETRY_AFTER_MAX) pauses the site for every worker
the same way; each worker's PoliteRetryMiddleware still retries the request itself.
"""

from __future__ import annotations

import logging

import redis
from scrapy.http import Request, Response
from scrapy.utils.asyncio import sleep
from scrapy_redis.connection import get_redis_from_settings

from crawler.distributed.keys import describe, pace_key
from crawler.http_handler import KeepAliveDownloadHandler
from crawler.middlewares import RETRY_AFTER_STATUSES, parse_retry_after

logger = logging.getLogger(__name__)

# KEYS: pace key; ARGV: delay in ms. Returns 0 (turn taken) or the milliseconds to wait.
_TAKE_TURN = """
local wait = redis.call('PTTL', KEYS[1])
if wait > 0 then return wait end
if tonumber(ARGV[1]) > 0 then redis.call('SET', KEYS[1], 'turn', 'PX', ARGV[1]) end
return 0
"""
# KEYS: pace key; ARGV: pause in ms. Lengthens the wait, never shortens it.
_PAUSE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], 'pause', 'PX', ARGV[1]) end
return 1
"""


class SharedPace:
    """Turns per site, shared through Redis."""

    def __init__(self, server: redis.Redis):
        self.server = server

    def take_turn(self, site: str, delay: float) -> float:
        """Take the site's turn (0.0), or the seconds until it may be tried again."""
        wait_ms = self.server.eval(_TAKE_TURN, 1, pace_key(site), max(0, round(delay * 1000)))
        return int(wait_ms) / 1000.0

    async def wait_turn(self, site: str, delay: float) -> float:
        """Wait until this process has the site's turn; returns the seconds waited."""
        waited = 0.0
        while (wait := self.take_turn(site, delay)) > 0:
            await sleep(wait)
            waited += wait
        return waited

    def pause(self, site: str, seconds: float) -> None:
        """No worker sends to the site for `seconds` from now (unless it already waits longer)."""
        self.server.eval(_PAUSE, 1, pace_key(site), max(1, round(seconds * 1000)))


class SharedPaceDownloadHandler(KeepAliveDownloadHandler):
    """The HTTP handler (crawler.http_handler), waiting for the site's shared turn before each download."""

    def __init__(self, crawler):
        super().__init__(crawler)
        self.pace = SharedPace(get_redis_from_settings(crawler.settings))
        self.retry_after_max = crawler.settings.getfloat("EXPOWATCH_RETRY_AFTER_MAX")
        self.redis_failed = False

    async def download_request(self, request: Request) -> Response:
        downloader = self.crawler.engine.downloader
        site = downloader.get_slot_key(request)
        slot = downloader.slots.get(site)
        delay = slot.delay if slot is not None else self.crawler.settings.getfloat("DOWNLOAD_DELAY")
        try:
            waited = await self.pace.wait_turn(site, delay)
        except redis.RedisError as exc:  # the worker stops within a tick; till then its own delay holds
            self._redis_failed(exc)
        else:
            if waited:
                self.crawler.stats.inc_value("expowatch/pace/waited_ms", round(waited * 1000))
        response = await super().download_request(request)
        if response.status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(response.headers.get(b"Retry-After"))
            if retry_after and retry_after <= self.retry_after_max:
                try:
                    self.pace.pause(site, retry_after)
                except redis.RedisError as exc:
                    self._redis_failed(exc)
        return response

    def _redis_failed(self, error: redis.RedisError) -> None:
        if not self.redis_failed:
            logger.warning("the shared pace is unavailable (Redis: %s); this worker's own delay applies",
                           describe(error))
        self.redis_failed = True
