"""The engine's conditional-GET pre-check: an unchanged source costs its requests, not a crawler.

Building and tearing down a Scrapy crawler (some 25 components, an engine, a downloader,
signals) is most of the CPU of a crawl whose feeds answer 304. Before the engine builds a
source's crawler, it sends the source's discovery requests (feeds, sitemaps, list pages)
with their stored validators through one long-lived pre-check crawler: the same downloader
middlewares (address guard, robots.txt from the store's cache and its Crawl-delay), the
same download handler (the engine's site turns and request slots), the source's own delay
and robots choice. Then:

- every page answered 304: the run is recorded as its crawl would record it (storage.runs
  judges it; the pages' checked time is saved), and no crawler is built;
- otherwise the source's crawler is built as before, and each page that answered 200 is
  handed to it (HandedOverMiddleware), so no page is fetched twice; any other answer
  (a redirect, an error status, a refusal, a network error) is left to the crawl to fetch
  and judge with its retries, redirects and error records.

A crawl is pre-checked only when it would send nothing but those conditional requests
before their answers: a declared source crawled by the generic spider (no spider code of
its own), not resuming (a resumed crawl reads every page), conditional GET on, no
discover_sitemaps (its robots.txt read is not conditional), and stored validators for
every discovery page (a page without them answers 200 anyway).

The pre-check crawler is replaced after PRECHECK_CRAWLER_MAX_AGE seconds (once its checks
in flight are done), so what it keeps in memory (robots.txt rules, download slots) is never
older than that.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from time import monotonic
from typing import Any

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Request, Response
from scrapy.settings import Settings
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from crawler.engine.pace import PACE_KEY, EngineLimits
from crawler.middlewares import DISCOVERY_KINDS, KIND, keep_site_delay, validator_headers
from crawler.runrecord import store_batch
from crawler.safety import REQUEST_SOURCE
from spiders.generic import GenericSourceSpider
from spiders.sources import Source
from storage.engine import session_factory
from storage.httpcache import save_validators, validators_of
from storage.runs import finish_run, judge_run
from storage.store import this_host, utcnow

logger = logging.getLogger(__name__)

PRECHECK_SETTING = "EXPOWATCH_PRECHECK"  # False: every crawl builds its crawler (as before the pre-check)
PRECHECK_CRAWLER_MAX_AGE = 900.0  # seconds a pre-check crawler takes new checks
HANDED_OVER = "expowatch_handed_over"  # the crawler attribute holding the pre-check's 200 answers
HANDED_OVER_MIDDLEWARE = "crawler.engine.precheck.HandedOverMiddleware"
STAT = "expowatch/precheck"


def precheck_source(spidercls: type, settings: Settings, resume: bool | None) -> Source | None:
    """The source to pre-check before building a crawler of spidercls, or None: build it straight away."""
    if resume is not False:  # resuming reads every page; None: nobody read whether it resumes
        return None
    if not settings.getbool(PRECHECK_SETTING, True) or not settings.getbool("EXPOWATCH_CONDITIONAL_GET") \
            or settings.getbool("EXPOWATCH_BACKFILL") or settings.getbool("EXPOWATCH_DRY_RUN"):
        return None
    # The spider loader's class for a declaration is (GenericSourceSpider,) plus name and source; a
    # Python spider of its own (other callbacks, settings) is crawled as it is written.
    if spidercls.__bases__ != (GenericSourceSpider,) or getattr(spidercls, "custom_settings", None):
        return None
    source = getattr(spidercls, "source", None)
    if source is None or source.discover_sitemaps or not source.discovery_urls:
        return None
    return source


def discovery_kinds(source: Source) -> dict[str, str]:
    """Each discovery URL of source (once) -> its kind, as the generic spider requests them."""
    kinds: dict[str, str] = {}
    for kind, urls in (("feed", source.feeds), ("sitemap", source.sitemaps), ("list", source.list_pages)):
        for url in urls:
            kinds.setdefault(url, kind)
    return kinds


@dataclass
class Outcome:
    """What a pre-check found: unchanged (every page 304), or the 200 answers to hand to the crawl."""

    unchanged: bool = False
    handed_over: dict[str, Response] = field(default_factory=dict)
    answered: int = 0  # pages that answered (304 or otherwise)
    why: str = ""  # why the crawl is built (for the log)


class PrecheckSpider(scrapy.Spider):
    """The pre-check crawler's spider: it starts nothing; the engine sends it requests."""

    name = "expowatch-precheck"

    async def start(self):
        return
        yield  # an async generator that yields nothing


@dataclass
class _PrecheckCrawler:
    crawler: Crawler
    born: float
    opened: bool = False
    waiting: list[Deferred] = field(default_factory=list)  # checks waiting for its spider to open
    in_flight: int = 0
    retired: bool = False

    def open(self) -> None:
        self.opened = True
        for waiter in self.waiting:
            waiter.callback(None)
        self.waiting.clear()

    def failed(self, why: Exception) -> None:
        for waiter in self.waiting:
            waiter.errback(Failure(why))
        self.waiting.clear()


def precheck_settings(settings: Settings, max_requests: int) -> Settings:
    """The pre-check crawler's settings: the engine's, without what only a source's crawl does
    (run record, pipelines, saving validators) and with room for many sources' requests at once."""
    probe = settings.copy()
    probe.set("EXTENSIONS", {**probe.getdict("EXTENSIONS"), "crawler.runrecord.CrawlRunRecorder": None},
              priority="cmdline")
    probe.set("ITEM_PIPELINES", dict.fromkeys(probe.getwithbase("ITEM_PIPELINES")), priority="cmdline")
    probe.set("DOWNLOADER_MIDDLEWARES", {**probe.getdict("DOWNLOADER_MIDDLEWARES"),
                                         "crawler.middlewares.ConditionalGetMiddleware": None}, priority="cmdline")
    probe.set("ROBOTSTXT_OBEY", True, priority="cmdline")  # a source that does not obey says so per request
    probe.set("DOWNLOAD_DELAY", 0, priority="cmdline")  # each source's delay is set on its site's slot
    probe.set("CONCURRENT_REQUESTS", max_requests, priority="cmdline")
    return probe


class Precheck:
    """The engine's pre-checks (see the module docstring); in the reactor thread."""

    def __init__(self, runner, settings: Settings, limits: EngineLimits):
        self.runner = runner
        self.limits = limits
        self.settings = precheck_settings(settings, limits.max_requests)
        self.db_url = settings.get("EXPOWATCH_DB_URL")
        self.reader = session_factory(self.db_url, for_writing=False)
        self.current: _PrecheckCrawler | None = None
        self.crawlers: list[_PrecheckCrawler] = []  # running, the current one included

    # ---- one source ---------------------------------------------------------
    async def check(self, run_id: int, source: Source) -> Outcome:
        """Send source's discovery requests with their validators; see Outcome."""
        kinds = discovery_kinds(source)
        validators = await maybe_deferred_to_future(deferToThread(self._validators, list(kinds)))
        if len(validators) < len(kinds):
            return Outcome(why="a discovery page has no stored validators")
        probe = await self._crawler()
        probe.in_flight += 1
        try:
            downloader = probe.crawler.engine.downloader
            requests = []
            for url, kind in kinds.items():
                request = self._request(url, kind, source, validators[url], run_id)
                if source.download_delay > 0:
                    keep_site_delay(downloader, downloader.get_slot_key(request), source.download_delay)
                requests.append(request)
            results = await maybe_deferred_to_future(DeferredList(
                [deferred_from_coro(probe.crawler.engine.download_async(r)) for r in requests], consumeErrors=True))
        finally:
            probe.in_flight -= 1
            self._close_if_retired(probe)
        answers = [value for ok, value in results if ok]
        if len(answers) == len(requests) and all(a.status == 304 for a in answers):
            return Outcome(unchanged=True, answered=len(answers))
        handed = {r.url: a for r, (ok, a) in zip(requests, results) if ok and a.status == 200}
        return Outcome(handed_over=handed, answered=len(answers), why="a discovery page changed or did not answer 304")

    def _validators(self, urls: list[str]) -> dict[str, Any]:
        """url -> its stored validators (an http_cache row), for the urls that have any."""
        with self.reader() as session:
            entries = validators_of(session, urls)
        return {url: entry for url, entry in entries.items() if validator_headers(entry)}

    @staticmethod
    def _request(url: str, kind: str, source: Source, validators: Any, run_id: int) -> Request:
        return Request(url, headers=validator_headers(validators), dont_filter=True, meta={
            KIND: kind, REQUEST_SOURCE: source, PACE_KEY: pace_key(run_id),
            # Anything but a 304 or 200 is the crawl's to fetch and judge (retries, redirects, errors).
            "dont_redirect": True, "dont_retry": True, "handle_httpstatus_all": True,
            "dont_obey_robotstxt": not source.obey_robots})

    # ---- the pre-check crawler -------------------------------------------------
    async def _crawler(self) -> _PrecheckCrawler:
        current = self.current
        if current is not None and monotonic() - current.born > PRECHECK_CRAWLER_MAX_AGE:
            current.retired = True  # closed once its checks in flight are done
            self._close_if_retired(current)
            self.current = current = None
        if current is None:
            crawler = Crawler(PrecheckSpider, self.settings)
            current = self.current = _PrecheckCrawler(crawler, monotonic())
            self.crawlers.append(current)
            crawler.signals.connect(lambda spider: current.open(), signal=signals.spider_opened, weak=False)
            crawler.signals.connect(lambda spider: self._idle(current), signal=signals.spider_idle, weak=False)
            self.runner.crawl(crawler).addBoth(self._ended, current)
        if not current.opened:
            waiter: Deferred = Deferred()
            current.waiting.append(waiter)
            await maybe_deferred_to_future(waiter)
        return current

    def _idle(self, probe: _PrecheckCrawler) -> None:
        if not probe.retired:
            raise DontCloseSpider  # it waits for the engine's next checks

    def _close_if_retired(self, probe: _PrecheckCrawler) -> None:
        if probe.retired and probe.in_flight == 0 and probe.crawler.engine is not None \
                and probe.crawler.engine.running:
            deferred_from_coro(probe.crawler.engine.close_spider_async(reason="finished")).addErrback(
                lambda failure: logger.error("the pre-check crawler did not close: %s", failure.getErrorMessage()))

    def _ended(self, result, probe: _PrecheckCrawler):
        if probe in self.crawlers:
            self.crawlers.remove(probe)
        if self.current is probe:
            self.current = None
        if isinstance(result, Failure):
            logger.error("the pre-check crawler failed: %s", result.getErrorMessage())
        # Checks still waiting for it to open fail: their crawls are built as without a pre-check.
        probe.failed(RuntimeError("the pre-check crawler ended before it opened"))
        return None

    def close(self) -> Deferred | None:
        """Retire every pre-check crawler (the engine is stopping); fires once they have closed."""
        closing = []
        for probe in list(self.crawlers):
            probe.retired = True
            # Its own requests (robots.txt) too: a site that never answers would hold the close.
            self.limits.cancel_downloads(id(probe.crawler), "shutdown")
            if probe.crawler.engine is not None and probe.crawler.engine.running:
                closing.append(deferred_from_coro(probe.crawler.engine.close_spider_async(reason="finished")))
        self.current = None
        return DeferredList(closing, consumeErrors=True) if closing else None


def pace_key(run_id: int) -> int:
    """The engine limits' key for one run's pre-check requests (closing the run cancels them alone)."""
    return -run_id


# ---- the run record ---------------------------------------------------------------
def record_precheck(db_url: str | None, run_id: int, source: Source, started_at: datetime,
                    outcome: Outcome | None, close_reason: str = "finished") -> Deferred:
    """Record a run that ended in its pre-check, as its crawl would have: every page unchanged (ok,
    the pages' checked time saved), or closed before the answers came (close_reason). The Deferred
    fires once it is committed (crawler.runrecord.StoreBatch)."""
    unchanged = outcome is not None and outcome.unchanged and close_reason == "finished"
    pages = outcome.answered if unchanged else 0
    status, message = judge_run(close_reason=close_reason, discovery_ok=pages, discovery_failed=0,
                                articles_done=0, article_errors=0)
    now = utcnow()
    stats: dict[str, Any] = {STAT: "unchanged" if unchanged else f"closed ({close_reason})",
                             "finish_reason": close_reason, "start_time": str(started_at),
                             "finish_time": str(now),
                             "elapsed_time_seconds": (now - started_at).total_seconds()}
    if unchanged:
        stats.update({"downloader/request_count": pages, "downloader/response_count": pages,
                      "downloader/response_status_count/304": pages, "expowatch/conditional/sent": pages,
                      "expowatch/conditional/not_modified": pages, "expowatch/discovery/not_modified": pages})
    urls = list(discovery_kinds(source))

    def write(session) -> None:
        finish_run(session, run_id, status=status, message=message, pages_fetched=pages, articles_new=0,
                   articles_duplicate=0, articles_skipped=0, skip_reasons={}, errors=[], stats=stats,
                   started_at=started_at, pid=os.getpid(), host=this_host())
        if unchanged:
            save_validators(session, {url: {"checked_at": now} for url in urls})

    log = logger.info if status == "ok" else logger.warning
    log("%s: run %d %s in its pre-check: %s", source.name, run_id, status,
        f"{pages} discovery page(s) not modified" if unchanged else message)
    return store_batch(db_url).submit(write)


# ---- the crawl that follows a pre-check -------------------------------------------------
def hand_over(crawler: Crawler, responses: dict[str, Response]) -> None:
    """Give a crawler (not started yet) the pre-check's 200 answers for its discovery requests."""
    setattr(crawler, HANDED_OVER, dict(responses))
    crawler.settings.set("DOWNLOADER_MIDDLEWARES",
                         {**crawler.settings.getdict("DOWNLOADER_MIDDLEWARES"), HANDED_OVER_MIDDLEWARE: 50},
                         priority="cmdline")


class HandedOverMiddleware:
    """Answers a crawl's discovery request with the page its pre-check fetched (once), so the page is
    not fetched twice. Placed right after the address guard; every middleware's process_response
    still sees the page (the conditional-GET middleware keeps its new validators)."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.responses: dict[str, Response] = getattr(crawler, HANDED_OVER, {})

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HandedOverMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> Response | None:
        if request.meta.get(KIND) not in DISCOVERY_KINDS:
            return None
        response = self.responses.pop(request.url, None)
        if response is None:
            return None
        self.crawler.stats.inc_value(STAT + "/handed_over")
        return response.replace(request=request, flags=[*response.flags, "pre-checked"])
