"""Source spiders for distributed crawls: the same classes as `expowatch crawl` uses.

A worker runs one crawler per source it is serving, with the source's own spider class
(GenericSourceSpider or a Python subclass) and the QueueConsumer mixin: its requests come
from the source's Redis queue, not from start(). `expowatch enqueue` runs the same class's
start() (without a crawler, so start() must not need one) to put a round's discovery
requests in that queue; callbacks travel by name.
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterable

from scrapy.http import Request
from scrapy.settings import Settings
from scrapy.spiderloader import SpiderLoader

from crawler.spiderloader import spider_class_for
from spiders.generic import GenericSourceSpider
from spiders.sources import Source


def project_settings() -> Settings:
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    return settings


def source_spider_classes(sources: Iterable[Source], settings: Settings | None = None) -> dict[str, type]:
    """The spider class `expowatch crawl` would use for each source: a Python spider of its name, or the generic one."""
    loader = SpiderLoader(settings or project_settings())
    python_spiders = set(loader.list())
    return {source.name: spider_class_for(source, loader.load(source.name) if source.name in python_spiders
                                          else GenericSourceSpider)
            for source in sources}


def source_spider_class(source: Source, settings: Settings | None = None) -> type:
    """The spider class `expowatch crawl` would use for one source."""
    return source_spider_classes([source], settings)[source.name]


class QueueConsumer:
    """Mixin for a source's spider in a worker: no start requests; failed requests are acknowledged."""

    @classmethod
    def update_settings(cls, settings) -> None:
        super().update_settings(settings)
        # Take from the shared queue only what the site may be sent at once: a worker does not
        # hoard requests that other workers could be fetching.
        settings.set("CONCURRENT_REQUESTS", cls.source.concurrency, priority="spider")

    async def start(self):
        return
        yield  # an async generator that yields nothing: the queue supplies the requests

    def request_failed(self, failure) -> None:
        try:
            return super().request_failed(failure)
        finally:
            from crawler.distributed.leases import LeaseKeeper

            keeper = self.crawler.get_spider_middleware(LeaseKeeper)
            if keeper is not None:
                keeper.settle(failure.request)


def consumer_class(spidercls: type[GenericSourceSpider]) -> type:
    """spidercls as a queue consumer (same name, callbacks and settings)."""
    return type(f"Queued{spidercls.__name__}", (QueueConsumer, spidercls), {"__module__": spidercls.__module__})


def start_requests(spidercls: type[GenericSourceSpider], **kwargs: Any) -> tuple[Any, list[Request]]:
    """(spider, the requests its start() yields), run without a crawler."""
    spider = spidercls(**kwargs)

    async def collect() -> list[Request]:
        return [request async for request in spider.start() if isinstance(request, Request)]

    return spider, asyncio.run(collect())
