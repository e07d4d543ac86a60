"""Putting a source's round in the shared queue: what `expowatch enqueue` and a distributed scheduler call.

A round starts with the source's discovery requests (feeds, sitemaps, list pages, exactly as
a local crawl starts). The source's duplicate filter is reset first, so list pages seen in
the last round are read again. A source whose queue still holds requests is busy: its last
round is not done, and it is left alone (like the scheduler's one crawl at a time per
source) unless force=True.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import redis
from scrapy_redis.dupefilter import RFPDupeFilter

from crawler.distributed.keys import connect, seen_key
from crawler.distributed.queue import encode, push_entry, queued
from crawler.distributed.spiders import source_spider_class, start_requests
from spiders.sources import Source


@dataclass(frozen=True)
class Enqueued:
    """What enqueueing one source did."""

    source: str
    requests: int  # discovery requests queued now (0 when the source was busy)
    waiting: int  # requests that were already queued for the source

    @property
    def queued(self) -> bool:
        return self.requests > 0

    def describe(self) -> str:
        if self.queued:
            return f"{self.source}: queued {self.requests} discovery requests"
        if self.waiting:
            return f"{self.source}: busy, {self.waiting} requests of its last round still queued; not queued again"
        return f"{self.source}: no feeds, sitemaps or list pages to queue"


def enqueue_source(redis_url: str | redis.Redis, source: Source, *, force: bool = False,
                   spidercls: type | None = None) -> Enqueued:
    """Queue a new round of source (its discovery requests) for the workers; RedisUnavailable if Redis is down."""
    server = connect(redis_url) if isinstance(redis_url, str) else redis_url
    waiting = queued(server, source.name)
    if waiting and not force:
        return Enqueued(source.name, 0, waiting)
    spider, requests = start_requests(spidercls or source_spider_class(source))
    seen = RFPDupeFilter(server, seen_key(source.name))
    seen.clear()  # a new round: pages seen in the last one are read again
    for request in requests:
        seen.request_seen(request)  # so a link back to a start page is not queued twice
        push_entry(server, source.name, encode(request.to_dict(spider=spider)), request.priority)
    return Enqueued(source.name, len(requests), waiting)


def enqueue_sources(redis_url: str, sources: Iterable[Source], *, force: bool = False) -> list[Enqueued]:
    """enqueue_source for each source over one connection."""
    server = connect(redis_url)
    return [enqueue_source(server, source, force=force) for source in sources]
