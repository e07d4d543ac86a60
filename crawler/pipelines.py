"""Item pipelines: validate -> process (in the worker pool) -> dedupe and store.

Each stage marks a page it rejects with a skip reason instead of dropping it, so the
last stage can count it in the run and remember it in the store.
"""

from __future__ import annotations

import asyncio
import logging
import os
from functools import partial

from scrapy import signals
from scrapy.exceptions import DropItem
from twisted.internet import task

from crawler.events import EVENTS_ENV_VAR, TAGGER_VERSION, load_taxonomy
from crawler.extract.extraction import EXTRACTOR_VERSION
from crawler.extract.quality import CAPPED_WARNING
from crawler.extraction_pool import start_forkserver
from crawler.hints import hints_for
from crawler.items import FetchedPage
from crawler.page_work import PageTask
from crawler.runrecord import SHUTDOWN
from crawler.urls import canonical_url, page_canonical_url
from crawler.workers import extraction_pool, store_writer
from storage.dedup import DEFAULT_THRESHOLD
from storage.engine import resolve_db_url, session_factory
from storage.store import ArticleRecord, ensure_source, record_skipped_page, store_tagged_article

logger = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")


class _Stage:
    """Shared plumbing: the crawler, its stats, and the running spider."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    @property
    def spider(self):
        return self.crawler.spider


class ValidatePipeline(_Stage):
    """Only successful HTML responses with a body go on to extraction."""

    async def process_item(self, item: FetchedPage) -> FetchedPage:
        if item.status != 200:
            item.skip_reason = f"http_{item.status}"
        elif not item.body.strip():
            item.skip_reason = "empty"
        elif item.content_type and not item.content_type.split(";")[0].strip().lower() in HTML_TYPES:
            item.skip_reason = "not_html"
        return item


SHUTDOWN_CHECK_SECONDS = 0.1  # how soon a stopped crawl stops waiting for extraction


class ProcessPipeline(_Stage):
    """Hands each page to the worker pool (crawler.page_work): extract, date, tag, fingerprint.

    The reactor only waits for the result, so it keeps downloading meanwhile. When the crawl
    is stopped (SIGTERM, SIGINT), pages still waiting for a worker are not waited for: each
    is recorded as an error with the reason "shutdown" (not stored, not skipped, so the next
    run fetches it again), and the crawl ends within seconds however many pages were queued.
    """

    def __init__(self, crawler):
        super().__init__(crawler)
        self._stopping: asyncio.Event | None = None
        self._watch: task.LoopingCall | None = None
        self.workers = crawler.settings.getint("EXPOWATCH_EXTRACT_WORKERS") or None
        # Resolved here, so every worker reads the same file; loaded now so a bad file fails before any fetch.
        self.events_file = crawler.settings.get("EXPOWATCH_EVENTS_FILE") or os.environ.get(EVENTS_ENV_VAR) or None
        load_taxonomy(self.events_file)

    @classmethod
    def from_crawler(cls, crawler):
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.request_scheduled, signal=signals.request_scheduled)
        return pipeline

    def request_scheduled(self, request, spider) -> None:
        """The first article request starts the workers' forkserver: it warms up while the page downloads."""
        if request.callback == getattr(spider, "parse_article", None):
            self.crawler.signals.disconnect(self.request_scheduled, signal=signals.request_scheduled)
            start_forkserver()

    @property
    def pool(self):
        """Started on the first article: a crawl that finds nothing new never pays for it."""
        return extraction_pool(self.workers)

    def open_spider(self) -> None:
        self._stopping = asyncio.Event()
        self._watch = task.LoopingCall(self._check_stopping)
        self._watch.start(SHUTDOWN_CHECK_SECONDS, now=False)

    def close_spider(self) -> None:
        if self._watch is not None and self._watch.running:
            self._watch.stop()

    def _check_stopping(self) -> None:
        """A crawler stops crawling only when it is stopped (Crawler.stop_async: a signal, the engine's
        own stop); a crawl that finishes or closes its spider keeps waiting for its pages."""
        if not self.crawler.crawling:
            self._stopping.set()
            self._watch.stop()

    async def process_item(self, item: FetchedPage) -> FetchedPage:
        if item.skip_reason:
            return item
        source = self.spider.source
        page = PageTask(item.body, item.url, http_charset=item.http_charset, hints=hints_for(source),
                        listed_date=item.listed_date, source_event=source.event, events_file=self.events_file)
        try:
            item.processed = await self._unless_stopped(self.pool.submit_page(page), item)
        except DropItem:
            raise
        except Exception as exc:  # a crash in the extractor is this page's failure, not the crawl's
            self.spider.record_error(item.url, f"extraction failed: {type(exc).__name__}: {exc}", "article")
            raise DropItem(f"extraction failed for {item.url}") from exc
        if item.extracted.skip_reason:
            item.skip_reason = item.extracted.skip_reason
        for warning in item.extracted.warnings:  # fields cut to their caps: counted in the run, with the URL logged
            name, _, rest = warning.partition(" ")
            if rest.startswith(CAPPED_WARNING):
                self.stats.inc_value(f"expowatch/fields_capped/{name}")
                logger.warning("%s: %s", item.url, warning)
        return item

    async def _unless_stopped(self, future, item: FetchedPage):
        """The pool's result for the page; DropItem, recorded as "shutdown", if the crawl is stopped first."""
        result = asyncio.wrap_future(future)
        if self._stopping is None:  # not opened through Scrapy (unit use)
            return await result
        stopped = asyncio.ensure_future(self._stopping.wait())
        try:
            done, _ = await asyncio.wait({result, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if result in done:
            return result.result()
        self.pool.withdraw(future)  # a page still queued for a worker never starts
        result.cancel()
        self.stats.inc_value("expowatch/articles_shutdown")
        self.spider.record_error(item.url, SHUTDOWN, "article")
        raise DropItem(f"{item.url}: {SHUTDOWN}")


class StorePipeline(_Stage):
    """Deduplicates and stores articles and records skipped pages, through the process's store writer."""

    def __init__(self, crawler):
        super().__init__(crawler)
        self.db_url = resolve_db_url(crawler.settings.get("EXPOWATCH_DB_URL"))
        self.writer = store_writer()
        self.threshold = crawler.settings.getfloat("EXPOWATCH_DEDUP_THRESHOLD", DEFAULT_THRESHOLD)
        if not 0 < self.threshold <= 1:
            raise ValueError(f"EXPOWATCH_DEDUP_THRESHOLD must be above 0 and at most 1, got {self.threshold}")
        self.source_id: int | None = None

    def _ensure_source_id(self) -> int:
        """The source's row id, looked up (or created) with the crawl's first page: a crawl that
        finds nothing new (every feed a 304) does not touch the store here at all."""
        if self.source_id is None:
            src = self.spider.source
            with session_factory(self.db_url).begin() as session:
                self.source_id = ensure_source(session, src.name, homepage=src.homepage,
                                               language=src.language, timezone_name=src.timezone)
        return self.source_id

    async def process_item(self, item: FetchedPage) -> FetchedPage:
        self._ensure_source_id()
        if item.skip_reason:
            if not item.skip_reason.startswith("http_5"):  # a server error is no verdict on the page: retry next run
                await self._write(partial(record_skipped_page, source_id=self.source_id,
                                          url=canonical_url(item.request_url), reason=item.skip_reason,
                                          extractor_version=EXTRACTOR_VERSION))
            self.stats.inc_value("expowatch/articles_skipped")
            self.stats.inc_value(f"expowatch/skipped/{item.skip_reason}")
            logger.info("%s: skipped %s (%s)", item.source, item.url, item.skip_reason)
            return item
        outcome = await self._write(partial(store_tagged_article, record=self._record(item), tags=item.processed.tags,
                                            tagger_version=TAGGER_VERSION, near_threshold=self.threshold))
        key = "articles_new" if outcome == "new" else "articles_duplicate"
        self.stats.inc_value(f"expowatch/{key}")
        return item

    async def _write(self, job):
        """Hand job(session) to the store writer; resumes once its transaction has committed."""
        return await asyncio.wrap_future(self.writer.submit(self.db_url, job))

    def _record(self, item: FetchedPage) -> ArticleRecord:
        processed = item.processed
        doc = processed.article
        return ArticleRecord(
            source_id=self.source_id,
            canonical_url=page_canonical_url(item.url, doc.canonical_url),
            seen_urls=tuple(canonical_url(u) for u in (item.request_url, *item.redirect_urls, item.url)),
            article=doc,
            content_hash=processed.content_hash,
            minhash=processed.minhash,
            raw_html_zlib=processed.html_zlib,
            http_charset=item.http_charset,
        )
