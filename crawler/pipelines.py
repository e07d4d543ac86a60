"""Item pipelines: validate -> extract (off the reactor) -> dedupe and store.

Each stage marks a page it rejects with a skip reason instead of dropping it, so the
last stage can count it in the run and remember it in the store.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
import logging
from concurrent.futures import Executor

from scrapy.exceptions import DropItem

from crawler.dedup import DEFAULT_THRESHOLD, content_hash, text_signature
from crawler.events import TAGGER_VERSION
from crawler.extraction import ExtractedArticle
from crawler.hints import hints_for
from crawler.items import FetchedPage
from crawler.urls import canonical_url, page_canonical_url
from crawler.workers import extraction_pool, store_writer
from storage.engine import resolve_db_url, session_factory
from storage.events import replace_article_tags
from storage.store import ArticleRecord, ensure_source, record_skipped_page, store_article

logger = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")


def date_from_listing(doc: ExtractedArticle, listed: str, zone: str) -> None:
    """Fall back to the date a feed or sitemap gave, when the page itself shows none."""
    if doc.published_at is not None or doc.date_flag:
        return
    try:
        when = datetime.fromisoformat(listed)
    except ValueError:
        return
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(zone))
    doc.published_at = when.astimezone(timezone.utc)
    doc.published_raw = listed
    doc.date_source = "listing"
    doc.published_precision = "second" if "T" in listed else "day"


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


class ExtractPipeline(_Stage):
    """Runs extract_article in a process pool so the reactor keeps downloading."""

    def __init__(self, crawler):
        super().__init__(crawler)
        self.workers = crawler.settings.getint("EXPOWATCH_EXTRACT_WORKERS") or None

    @property
    def pool(self):
        """Started on the first article: a crawl that finds nothing new never pays for it."""
        return extraction_pool(self.workers)

    async def process_item(self, item: FetchedPage) -> FetchedPage:
        if item.skip_reason:
            return item
        hints = hints_for(self.spider.source)
        future = self.pool.submit(item.body, item.url, http_charset=item.http_charset, hints=hints)
        try:
            item.extracted = await asyncio.wrap_future(future)
        except Exception as exc:  # a crash in the extractor is this page's failure, not the crawl's
            self.spider.record_error(item.url, f"extraction failed: {type(exc).__name__}: {exc}", "article")
            raise DropItem(f"extraction failed for {item.url}") from exc
        if item.extracted.skip_reason:
            item.skip_reason = item.extracted.skip_reason
        elif item.listed_date:
            date_from_listing(item.extracted, item.listed_date, self.spider.source.timezone)
        return item


class TagPipeline(_Stage):
    """Tags each extracted article with the events it is about (cheap: runs on the reactor)."""

    def __init__(self, crawler):
        super().__init__(crawler)
        from crawler.events import load_taxonomy

        self.taxonomy = load_taxonomy(crawler.settings.get("EXPOWATCH_EVENTS_FILE"))

    async def process_item(self, item: FetchedPage) -> FetchedPage:
        if item.skip_reason or item.extracted is None:
            return item
        from crawler.events import tag_article

        doc = item.extracted
        source_event = self.spider.source.event
        item.tags = tag_article(
            doc.title or "", doc.text, item.url,
            source_event=source_event if source_event in self.taxonomy else None,
            published=doc.published_at, taxonomy=self.taxonomy,
        )
        return item


class StorePipeline(_Stage):
    """Deduplicates and stores articles; records skipped pages, through the process's one writer thread."""

    def __init__(self, crawler):
        super().__init__(crawler)
        self.db = session_factory(resolve_db_url(crawler.settings.get("EXPOWATCH_DB_URL")))
        self.writer: Executor = store_writer()
        self.threshold = crawler.settings.getfloat("EXPOWATCH_DEDUP_THRESHOLD", DEFAULT_THRESHOLD)
        if not 0 < self.threshold <= 1:
            raise ValueError(f"EXPOWATCH_DEDUP_THRESHOLD must be above 0 and at most 1, got {self.threshold}")
        self.source_id: int | None = None

    def open_spider(self) -> None:
        src = self.spider.source
        with self.db.begin() as session:
            self.source_id = ensure_source(session, src.name, homepage=src.homepage,
                                           language=src.language, timezone_name=src.timezone)


    async def process_item(self, item: FetchedPage) -> FetchedPage:
        loop = asyncio.get_running_loop()
        if item.skip_reason:
            await loop.run_in_executor(self.writer, self._skip, item)
            self.stats.inc_value("expowatch/articles_skipped")
            self.stats.inc_value(f"expowatch/skipped/{item.skip_reason}")
            logger.info("%s: skipped %s (%s)", item.source, item.url, item.skip_reason)
            return item
        outcome = await loop.run_in_executor(self.writer, self._store, item)
        key = "articles_new" if outcome == "new" else "articles_duplicate"
        self.stats.inc_value(f"expowatch/{key}")
        return item

    def _skip(self, item: FetchedPage) -> None:
        if item.skip_reason.startswith("http_5"):
            return  # a server error is not a verdict on the page: try again next run
        with self.db.begin() as session:
            record_skipped_page(session, self.source_id, canonical_url(item.request_url), item.skip_reason)

    def _store(self, item: FetchedPage) -> str:
        doc: ExtractedArticle = item.extracted
        canonical = page_canonical_url(item.url, doc.canonical_url)
        seen = tuple(canonical_url(u) for u in (item.request_url, *item.redirect_urls, item.url))
        record = ArticleRecord(
            source_id=self.source_id,
            canonical_url=canonical,
            seen_urls=seen,
            title=doc.title,
            text=doc.text,
            content_hash=content_hash(doc.text),
            minhash=text_signature(doc.text).to_bytes(),
            author=doc.author,
            published_at=doc.published_at,
            published_raw=doc.published_raw,
            updated_at=doc.updated_at,
            updated_raw=doc.updated_raw,
            date_flag=doc.date_flag,
            published_precision=doc.published_precision,
            date_source=doc.date_source,
            date_timezone=doc.timezone,
            encoding=doc.encoding,
            language=doc.language,
            extractor_version=doc.extractor_version,
            raw_html=item.body,
            http_charset=item.http_charset,
        )
        with self.db.begin() as session:
            stored = store_article(session, record, near_threshold=self.threshold)
            if stored.outcome in ("new", "near_duplicate"):  # a new articles row: tag it
                replace_article_tags(session, stored.article_id, item.tags, TAGGER_VERSION)
            return stored.outcome
