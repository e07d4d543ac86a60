"""Acknowledging leased requests when they are done (spider middleware, outermost).

A request taken from the queue is done when its callback's output has been handed on (new
requests queued in Redis) and every item from it has left the item pipelines (stored or
skipped), or when its errback has run. Until then a worker that dies leaves it in its
in-flight hash, and another worker puts it back in the queue (crawler/distributed/queue.py).

Items dropped because extraction crashed are counted per URL across runs; at the limit the
page is poisoned (crawler/distributed/poison.py).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, AsyncIterator

import redis
from scrapy import Request, signals
from scrapy.exceptions import DropItem, NotConfigured
from scrapy_redis.connection import get_redis_from_settings

from crawler.distributed.keys import describe, inflight_key
from crawler.distributed.poison import count_crash, forget_crashes, record_poisoned
from crawler.distributed.queue import LEASE, Dropped
from storage.engine import resolve_db_url, session_factory

logger = logging.getLogger(__name__)


def lease_of(response) -> str | None:
    """The lease of the request behind a response (or a failure: errback output), if it was leased."""
    request = getattr(response, "request", None)
    return request.meta.get(LEASE) if request is not None else None


class LeaseKeeper:
    """Spider middleware: acknowledges each leased request once its output and items are done."""

    def __init__(self, crawler):
        settings = crawler.settings
        self.crawler = crawler
        self.server = get_redis_from_settings(settings)
        self.inflight = inflight_key(settings.get("EXPOWATCH_WORKER_ID"))
        self.max_tries = settings.getint("EXPOWATCH_MAX_DELIVERIES")
        self.db = session_factory(resolve_db_url(settings.get("EXPOWATCH_DB_URL")))
        self.open_items: Counter[str] = Counter()  # lease -> items from its response still in the pipelines
        self.output_done: set[str] = set()  # leases whose callback output has been handed on
        crawler.signals.connect(self.item_done, signal=signals.item_scraped)
        # An item that failed in a pipeline (the store was down, say) is done too: as in a local crawl,
        # it is not stored, so the next round finds it again (and a store that stays down ends the worker).
        crawler.signals.connect(self.item_done, signal=signals.item_error)
        crawler.signals.connect(self.item_dropped, signal=signals.item_dropped)

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.get("EXPOWATCH_WORKER_ID"):
            raise NotConfigured
        return cls(crawler)

    async def process_spider_output(self, response, result: AsyncIterator[Any]) -> AsyncIterator[Any]:
        lease = lease_of(response)
        try:
            async for output in result:
                if lease and not isinstance(output, Request):
                    self.open_items[lease] += 1
                yield output
        finally:
            if lease:
                self.output_done.add(lease)
                self._ack_if_done(lease)

    def settle(self, request: Request) -> None:
        """The request is done (its errback ran): acknowledge it now."""
        lease = request.meta.get(LEASE)
        if lease:
            self.open_items.pop(lease, None)
            self.output_done.discard(lease)
            self._ack(lease)

    def item_done(self, item, response, spider=None, **kwargs) -> None:
        lease = lease_of(response)
        if lease:
            self.open_items[lease] -= 1
            self._ack_if_done(lease)

    def item_dropped(self, item, response, exception, spider=None, **kwargs) -> None:
        if isinstance(exception, DropItem) and exception.__cause__ is not None:  # a stage crashed on the page
            self._count_crash(item)
        self.item_done(item, response)

    def _count_crash(self, item) -> None:
        url = getattr(item, "request_url", None)
        if not url:
            return
        try:
            crashes = count_crash(self.server, url)
            if crashes >= self.max_tries:
                dropped = Dropped(item.source, url, "article", crashes)
                record_poisoned(self.server, self.db, dropped, "extraction crashed on every try")
                forget_crashes(self.server, url)
        except redis.RedisError as exc:
            logger.warning("could not count the extraction crash on %s: %s", url, describe(exc))

    def _ack_if_done(self, lease: str) -> None:
        if lease in self.output_done and self.open_items[lease] <= 0:
            self.output_done.discard(lease)
            del self.open_items[lease]
            self._ack(lease)

    def _ack(self, lease: str) -> None:
        try:
            self.server.hdel(self.inflight, lease)
        except redis.RedisError as exc:  # it stays in flight; another worker puts it back later
            logger.warning("could not acknowledge a finished request in Redis: %s", describe(exc))
