"""The engine core: one long-lived process, one reactor, one CrawlerRunner, many crawls.

Two front ends start crawls in it:

    crawler.engine.process       the scheduler's engine: a crawl per command on stdin (a run id each)
    crawler.distributed.worker   the distributed worker: a crawl per source with requests queued in Redis

What they do the same way lives here:

- the settings every crawl of the process is copied from (CrawlSettings: the project's
  crawl settings, no progress line, the extraction pool's size, HTTP(S) downloads through
  the front end's download handler);
- setting up the process: Scrapy's logging (tracebacks cut to one line unless the log is
  verbose) and the reactor; import_components, for a front end that wants every component
  a crawl builds imported before its first crawl;
- starting a crawler in the runner under the front end's key (a run id, a source name),
  keeping the running ones, and keeping the one-line log filter on the root log handler
  that each new crawler installs again;
- running the reactor until the front end stops it, then closing the process's extraction
  pool and store writer (crawler.workers), which stay warm from one crawl to the next.

What differs stays with each front end: where crawls come from and when the process ends,
signals, how one crawl is closed, and the download handler (docs/architecture.md, "The
crawl engine").
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Hashable
from typing import Any

from scrapy.crawler import Crawler, CrawlerRunner
from scrapy.settings import Settings
from scrapy.utils.log import configure_logging
from scrapy.utils.misc import load_object
from scrapy.utils.reactor import install_reactor
from twisted.internet.defer import Deferred


class CrawlSettings(Settings):
    """Settings whose copy (one per crawler: scrapy.crawler.Crawler copies its settings) is a
    pickle round trip: the same values and priorities, a third of deepcopy's time (about 3 ms
    of a small crawl's 20)."""

    def copy(self) -> CrawlSettings:
        return pickle.loads(pickle.dumps(self, pickle.HIGHEST_PROTOCOL))


def core_settings(*, db_url: str, sources_file: str | None, events_file: str | None, log_level: str,
                  extract_workers: int | None, download_handler: str,
                  overrides: dict[str, Any]) -> CrawlSettings:
    """The project's crawl settings for the crawls of a long-lived process, with the front end's overrides."""
    from crawler.crawl import crawl_settings

    settings = CrawlSettings()
    settings.update(crawl_settings(db_url=db_url, sources_file=sources_file, events_file=events_file,
                                   log_level=log_level,
                                   overrides={"EXPOWATCH_EXTRACT_WORKERS": extract_workers,
                                              "EXPOWATCH_PROGRESS": False,  # many crawls at once, no terminal
                                              **overrides}))
    handlers = {**settings.getdict("DOWNLOAD_HANDLERS"), "http": download_handler, "https": download_handler}
    settings.set("DOWNLOAD_HANDLERS", handlers, priority="cmdline")
    return settings


COMPONENT_SETTINGS = ("DOWNLOADER_MIDDLEWARES", "SPIDER_MIDDLEWARES", "ITEM_PIPELINES", "EXTENSIONS")


def import_components(settings: Settings) -> None:
    """Import every component a crawl will build, once, before the first crawl (not during it)."""
    for name in COMPONENT_SETTINGS:
        for path, value in settings.getwithbase(name).items():
            if value is not None and isinstance(path, str):
                load_object(path)
    for path in settings.getwithbase("DOWNLOAD_HANDLERS").values():  # scheme -> handler class
        if isinstance(path, str):
            load_object(path)
    for name in ("SCHEDULER", "DUPEFILTER_CLASS", "STATS_CLASS", "LOG_FORMATTER", "ROBOTSTXT_PARSER"):
        if isinstance(settings.get(name), str):
            load_object(settings.get(name))


class EngineCore:
    """The reactor and the CrawlerRunner of this process, and the crawls running in it.

    Made once per process (Scrapy's reactor cannot be installed twice); see the module docstring.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.one_line_records = not settings.getbool("EXPOWATCH_TRACEBACKS")
        configure_logging(settings)
        self._trim_tracebacks()
        install_reactor(settings["TWISTED_REACTOR"], settings["ASYNCIO_EVENT_LOOP"])
        from twisted.internet import reactor

        self.reactor = reactor
        self.runner = CrawlerRunner(settings)
        self.crawls: dict[Hashable, Crawler] = {}  # the front end's key (run id, source) -> its running crawler

    def new_crawler(self, spidercls: type) -> Crawler:
        """A crawler of spidercls with a copy of the process's settings (its own to change before it starts)."""
        return Crawler(spidercls, self.settings)

    def crawl(self, key: Hashable, crawler: Crawler) -> Deferred:
        """Start crawler under key; the Deferred fires with its outcome (a Failure if it raised) once it has
        left self.crawls."""
        self.crawls[key] = crawler
        done = self.runner.crawl(crawler)
        self._trim_tracebacks()  # the crawler installed Scrapy's root log handler anew

        def ended(result):
            self.crawls.pop(key, None)
            return result

        return done.addBoth(ended)

    def stop_crawls(self) -> Deferred:
        """Close every running crawl (reason "shutdown"); fires when all have closed."""
        return self.runner.stop()

    def run(self) -> None:
        """Run the reactor until a front end stops it; then commit what the store writer holds and stop
        the extraction workers."""
        self.reactor.run(installSignalHandlers=False)
        from crawler.workers import close_workers

        close_workers()

    def _trim_tracebacks(self) -> None:
        if self.one_line_records:
            from crawler.crawl import OneLineRecords

            for handler in logging.getLogger().handlers:
                if not any(isinstance(f, OneLineRecords) for f in handler.filters):
                    handler.addFilter(OneLineRecords())
