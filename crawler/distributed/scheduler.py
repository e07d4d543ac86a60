"""The Scrapy scheduler of a source's crawler inside a worker: scrapy-redis's, on leased queues.

The queue is shared by every worker and outlives each crawler (SCHEDULER_PERSIST is forced
on: scrapy-redis would otherwise empty the shared queue when one crawler closes). On close,
leases still in flight are settled: a crawler that finished (engine idle) has dealt with
every request it took; one stopped early (shutdown) puts them back in the queue.

A Redis error here never crashes the engine: the request or pop is logged and skipped, and
the worker's own loop (crawler/distributed/worker.py) notices the outage and ends the worker.
"""

from __future__ import annotations

import logging

import redis
from scrapy.utils.misc import load_object
from scrapy_redis.scheduler import Scheduler

from crawler.distributed.keys import describe

logger = logging.getLogger(__name__)


class LeasedScheduler(Scheduler):
    """scrapy_redis.scheduler.Scheduler with persistence forced on and leases settled at close."""

    @classmethod
    def from_settings(cls, settings):
        scheduler = super().from_settings(settings)
        scheduler.persist = True  # the queue belongs to every worker, not to this crawler
        scheduler.redis_failed = False
        return scheduler

    def _redis_error(self, action: str, error: redis.RedisError) -> None:
        if not self.redis_failed:
            logger.warning("%s: Redis failed while %s: %s", self.spider.name, action, describe(error))
        self.redis_failed = True

    def open(self, spider) -> None:
        # scrapy-redis's open() without its Spider.log() call (deprecated in Scrapy 2.13+)
        self.spider = spider
        self.queue = load_object(self.queue_cls)(server=self.server, spider=spider,
                                                 key=self.queue_key % {"spider": spider.name},
                                                 serializer=self.serializer)
        if not self.df:
            self.df = load_object(self.dupefilter_cls).from_spider(spider)

    def enqueue_request(self, request) -> bool:
        # as scrapy-redis's, with stats calls Scrapy 2.13+ accepts without a deprecation warning
        try:
            if not request.dont_filter and self.df.request_seen(request):
                self.df.log(request, self.spider)
                return False
            self.queue.push(request)
        except redis.RedisError as exc:
            self._redis_error(f"queueing {request.url}", exc)
            return False
        if self.stats:
            self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def next_request(self):
        try:
            request = self.queue.pop()
        except redis.RedisError as exc:
            self._redis_error("taking the next request", exc)
            return None
        if request is not None and self.stats:
            self.stats.inc_value("scheduler/dequeued/redis")
        return request

    def has_pending_requests(self) -> bool:
        try:
            return super().has_pending_requests()
        except redis.RedisError as exc:
            self._redis_error("counting queued requests", exc)
            return False

    def close(self, reason: str) -> None:
        try:
            returned = self.queue.settle(finished=reason == "finished")
        except redis.RedisError as exc:
            self._redis_error("settling its requests in flight", exc)
            return
        if returned:
            logger.info("%s: %d requests in flight went back to the queue (%s)", self.spider.name, returned, reason)
