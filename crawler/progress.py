"""A live progress line on a terminal while sources are crawled; silent in pipes and cron."""

from __future__ import annotations

import sys

from scrapy import signals
from scrapy.exceptions import NotConfigured
from twisted.internet import task

REFRESH_SECONDS = 0.5  # fast enough to look alive, slow enough to cost nothing


class ProgressLine:
    """Scrapy extension: one line on stderr summing every crawl running in this process."""

    _crawlers: dict[str, object] = {}
    _loop: task.LoopingCall | None = None

    def __init__(self, crawler):
        self.crawler = crawler
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.getbool("EXPOWATCH_PROGRESS", True) or not sys.stderr.isatty():
            raise NotConfigured  # no message: Scrapy would log one at WARNING level
        return cls(crawler)

    def spider_opened(self, spider) -> None:
        ProgressLine._crawlers[spider.name] = self.crawler
        if ProgressLine._loop is None:
            ProgressLine._loop = task.LoopingCall(ProgressLine.draw)
            ProgressLine._loop.start(REFRESH_SECONDS)

    def spider_closed(self, spider) -> None:
        ProgressLine.draw()
        ProgressLine._crawlers.pop(spider.name, None)
        if not ProgressLine._crawlers and ProgressLine._loop is not None:
            ProgressLine._loop.stop()
            ProgressLine._loop = None
            sys.stderr.write("\n")

    @staticmethod
    def draw() -> None:
        total = {"pages": 0, "new": 0, "dup": 0, "skipped": 0, "errors": 0}
        for crawler in ProgressLine._crawlers.values():
            stats = crawler.stats
            total["pages"] += stats.get_value("downloader/response_count", 0)
            total["new"] += stats.get_value("expowatch/articles_new", 0)
            total["dup"] += stats.get_value("expowatch/articles_duplicate", 0)
            total["skipped"] += stats.get_value("expowatch/articles_skipped", 0)
            total["errors"] += stats.get_value("expowatch/errors", 0)
        running = len(ProgressLine._crawlers)
        sys.stderr.write(
            f"\r\x1b[2Kcrawling {running} source{'s' if running != 1 else ''}: {total['pages']} pages, "
            f"{total['new']} new, {total['dup']} duplicate, {total['skipped']} skipped, {total['errors']} errors"
        )
        sys.stderr.flush()
