"""Distributed mode: a due source is queued in Redis for `expowatch worker`s instead of crawled here."""

from __future__ import annotations

import time
from collections.abc import Mapping

from scheduler.runner import NOT_STARTED, CrawlOutcome
from spiders.sources import Source


class EnqueueRunner:
    """Stands in for CrawlRunner: run(source) queues the source's discovery requests and returns."""

    def __init__(self, redis_url: str, sources: Mapping[str, Source]):
        self.redis_url = redis_url
        self.sources = sources

    def run(self, source: str) -> CrawlOutcome:
        """Queue one round of source; a round still queued is not doubled."""
        from crawler.distributed.enqueue import enqueue_source
        from crawler.distributed.keys import RedisUnavailable

        started = time.monotonic()
        try:
            result = enqueue_source(self.redis_url, self.sources[source])
        except RedisUnavailable as exc:
            return CrawlOutcome(source, "failed", summary=str(exc), seconds=time.monotonic() - started)
        status = "ok" if result.queued else NOT_STARTED
        return CrawlOutcome(source, status, summary=result.describe(), seconds=time.monotonic() - started)

    # Queueing is instant: nothing runs here that a shutdown would have to wait for or end.
    def running(self) -> list[str]:
        return []

    def stop_accepting(self) -> None:
        pass

    def wait_idle(self, timeout: float) -> bool:
        return True

    def end_all(self, reason: str | None = None) -> None:
        pass

    def close(self) -> None:
        """Nothing to release: the workers own the crawls."""
