"""A live progress line on a terminal while sources are crawled; silent in pipes and cron."""

from __future__ import annotations

import sys

from scrapy import signals
from scrapy.exceptions import NotConfigured
from twisted.internet import task

REFRESH_SECONDS = 0.5  # fast enough to look alive, slow enough to cost nothing


COUNTS = {"pages": "downloader/response_count", "new": "expowatch/articles_new",
          "dup": "expowatch/articles_duplicate", "skipped": "expowatch/articles_skipped",
          "errors": "expowatch/errors"}


class ProgressLine:
    """Scrapy extension: one line on stderr summing every crawl of this process.

    The counts only grow: a finished crawl's counts stay in the sums. The number of
    sources is every crawl this process was given, from the first line on, with how
    many are done.
    """

    _crawlers: dict[str, object] = {}
    _expected = 0  # crawlers created in this process (each builds its own ProgressLine)
    _finished: dict[str, int] = dict.fromkeys(COUNTS, 0)
    _done = 0
    _loop: task.LoopingCall | None = None

    def __init__(self, crawler):
        self.crawler = crawler
        ProgressLine._expected += 1
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
        crawler = ProgressLine._crawlers.pop(spider.name, None)
        if crawler is not None:
            for key, value in _counts(crawler).items():
                ProgressLine._finished[key] += value
            ProgressLine._done += 1
        ProgressLine.draw()
        if not ProgressLine._crawlers and ProgressLine._loop is not None:
            ProgressLine._loop.stop()
            ProgressLine._loop = None
            sys.stderr.write("\n")

    @staticmethod
    def draw() -> None:
        total = dict(ProgressLine._finished)
        for crawler in ProgressLine._crawlers.values():
            for key, value in _counts(crawler).items():
                total[key] += value
        sources = max(ProgressLine._expected, ProgressLine._done + len(ProgressLine._crawlers))
        sys.stderr.write(
            f"\r\x1b[2Kcrawling {sources} source{'s' if sources != 1 else ''} ({ProgressLine._done} done): "
            f"{total['pages']} pages, {total['new']} new, {total['dup']} duplicate, {total['skipped']} skipped, "
            f"{total['errors']} errors"
        )
        sys.stderr.flush()


def _counts(crawler) -> dict[str, int]:
    stats = crawler.stats
    return {key: stats.get_value(stat, 0) for key, stat in COUNTS.items()}
