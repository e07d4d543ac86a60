"""The engine core: one long-lived process, one reactor, one CrawlerRunner, many crawls.

Two front ends start crawls in it:

    crawler.engine.process       the scheduler's engine: a crawl per command on stdin (a run id each)
    crawler.distributed.worker   the distributed worker: a crawl per source with requests queued in Redis

What they do the same way lives here:

- the settings every crawl of the process is copied from (CrawlSettings: the project's
  crawl settings, no progress line, the extraction pool's size, HTTP(S) downloads through
  the front end's download handler);
- setting up the process: one log handler of its own (tracebacks cut to one line unless the
  log is verbose) and the reactor; crawls of spiders without settings of their own leave
  out the components that would switch themselves off; import_components, for a front end that wants every component
  a crawl builds imported before its first crawl;
- starting a crawler in the runner under the front end's key (a run id, a source name),
  keeping the running ones;
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
        install_log_handler(settings)
        install_reactor(settings["TWISTED_REACTOR"], settings["ASYNCIO_EVENT_LOOP"])
        from twisted.internet import reactor

        self.reactor = reactor
        self.runner = CrawlerRunner(settings)
        # For spiders without settings of their own (every declared source): settings can then not
        # switch a left-out component back on.
        self.lean_settings = without_switched_off(settings)
        self.crawls: dict[Hashable, Crawler] = {}  # the front end's key (run id, source) -> its running crawler

    def new_crawler(self, spidercls: type) -> Crawler:
        """A crawler of spidercls with a copy of the process's settings (its own to change before it starts)."""
        settings = self.settings if getattr(spidercls, "custom_settings", None) else self.lean_settings
        return Crawler(spidercls, settings)

    def crawl(self, key: Hashable, crawler: Crawler) -> Deferred:
        """Start crawler under key; the Deferred fires with its outcome (a Failure if it raised) once it has
        left self.crawls."""
        self.crawls[key] = crawler
        done = self.runner.crawl(crawler)

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


# Components that switch themselves off (NotConfigured) under the engine's usual settings: telnet,
# memory, progress and stats lines, feeds, close conditions, throttling, job state, an HTTP cache,
# cookies. Built and refused again by every crawl, they cost each small crawl about a tenth of its CPU.
SWITCHED_OFF_CANDIDATES = {
    "EXTENSIONS": ("scrapy.extensions.telnet.TelnetConsole", "scrapy.extensions.memusage.MemoryUsage",
                   "scrapy.extensions.memdebug.MemoryDebugger", "scrapy.extensions.closespider.CloseSpider",
                   "scrapy.extensions.feedexport.FeedExporter", "scrapy.extensions.logstats.LogStats",
                   "scrapy.extensions.spiderstate.SpiderState", "scrapy.extensions.throttle.AutoThrottle",
                   "scrapy.extensions.remote_control.RemoteControl", "crawler.progress.ProgressLine"),
    "DOWNLOADER_MIDDLEWARES": ("scrapy.downloadermiddlewares.httpcache.HttpCacheMiddleware",
                               "scrapy.downloadermiddlewares.cookies.CookiesMiddleware"),
}


def switched_off(settings: Settings) -> dict[str, list[str]]:
    """Of SWITCHED_OFF_CANDIDATES, those enabled in settings that refuse (NotConfigured) to run under them."""
    from scrapy import Spider
    from scrapy.exceptions import NotConfigured
    from scrapy.utils.misc import build_from_crawler

    probe = Crawler(Spider, settings)  # never crawls: its settings and stats are all a component reads
    probe.stats = load_object(probe.settings["STATS_CLASS"])(probe)
    found: dict[str, list[str]] = {}
    for name, paths in SWITCHED_OFF_CANDIDATES.items():
        enabled = settings.getwithbase(name)
        for path in paths:
            if enabled.get(path) is None:
                continue
            try:
                build_from_crawler(load_object(path), probe)
            except NotConfigured:
                found.setdefault(name, []).append(path)
    return found


def without_switched_off(settings: Settings) -> Settings:
    """settings with the components that would refuse to run left out (see SWITCHED_OFF_CANDIDATES)."""
    pruned = settings.copy()
    for name, paths in switched_off(settings).items():
        pruned.set(name, {**pruned.getdict(name), **dict.fromkeys(paths)}, priority="cmdline")
    return pruned


def install_log_handler(settings: Settings) -> None:
    """The process's one log handler (stderr), at the settings' level and format; tracebacks cut to
    one line unless EXPOWATCH_TRACEBACKS.

    Installed once, not as Scrapy's root handler: Scrapy replaces that handler twice for every
    crawler it starts (and the filter on it with it), a cost paid by every crawl of the engine.
    """
    quiet = settings.copy()
    quiet.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")
    configure_logging(quiet)
    level = settings.get("LOG_LEVEL")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(settings.get("LOG_FORMAT"), settings.get("LOG_DATEFORMAT")))
    handler.setLevel(level)
    if not settings.getbool("EXPOWATCH_TRACEBACKS"):
        from crawler.crawl import OneLineRecords

        handler.addFilter(OneLineRecords())
    logging.root.addHandler(handler)
    # Scrapy's loggers are set to DEBUG (its logging defaults): records below the level are dropped
    # where they are made, not built and then refused by the handler, a dozen per crawl.
    for name in ("", "scrapy"):
        logging.getLogger(name).setLevel(level)
