"""`expowatch sources check NAME`: a dry run of one source that writes nothing.

The source's spider discovers, fetches and extracts its first few articles through the
normal pipelines, except that the store pipeline is replaced by one that reports, and
nothing reads or creates a store (no known-URL lookup, no run record, no http_cache).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

DEFAULT_CHECK_LIMIT = 3  # enough to see that discovery and extraction work, quick on a slow site
STORE_PIPELINE = "crawler.pipelines.StorePipeline"
EXCERPT_CHARS = 200


@dataclass
class CheckedArticle:
    """What a crawl would store for one article page (or why it would skip it)."""

    url: str
    title: str | None = None
    published_at: datetime | None = None
    language: str | None = None
    chars: int = 0
    excerpt: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)  # EventTag.to_dict(): role, edition, year, evidence
    skip_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "title": self.title,
                "published_at": self.published_at.isoformat() if self.published_at else None,
                "language": self.language, "chars": self.chars, "excerpt": self.excerpt,
                "events": self.events, "skip_reason": self.skip_reason}


@dataclass
class CheckReport:
    """The outcome of a dry run: discovery counts, articles, errors."""

    source: str
    discovery_ok: int = 0
    discovery_failed: int = 0
    articles_found: int = 0
    articles: list[CheckedArticle] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Discovery worked and at least one article would be stored."""
        return self.discovery_ok > 0 and any(a.skip_reason is None for a in self.articles)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "ok": self.ok, "discovery_ok": self.discovery_ok,
                "discovery_failed": self.discovery_failed, "articles_requested": self.articles_found,
                "articles": [a.to_dict() for a in self.articles], "errors": self.errors}


class ReportPipeline:
    """Last pipeline of a dry run: keeps what would be stored on the spider, stores nothing."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def open_spider(self) -> None:
        self.crawler.spider.checked_articles = []

    def process_item(self, item):
        spider = self.crawler.spider
        doc = item.extracted
        checked = CheckedArticle(url=item.url, skip_reason=item.skip_reason)
        if doc is not None and not item.skip_reason:
            text = " ".join(doc.text.split())
            checked.title, checked.published_at, checked.language = doc.title, doc.published_at, doc.language
            checked.chars = len(doc.text)
            checked.excerpt = text[:EXCERPT_CHARS] + ("…" if len(text) > EXCERPT_CHARS else "")
            processed = getattr(item, "processed", None)
            checked.events = [t.to_dict() for t in (processed.tags if processed else [])]  # as a crawl stores them
        spider.checked_articles.append(checked)
        return item


def dry_run_settings(sources_file: str | None, limit: int) -> Settings:
    """Project settings for a dry run: no store pipeline, no run record, no conditional GET."""
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    pipelines = {k: v for k, v in settings.getdict("ITEM_PIPELINES").items() if k != STORE_PIPELINE}
    pipelines["spiders.check.ReportPipeline"] = 1000
    extensions = {k: None for k in settings.getdict("EXTENSIONS")}  # run records and progress: none
    for key, value in {
        "ITEM_PIPELINES": pipelines,
        "EXTENSIONS": extensions,
        "EXPOWATCH_DRY_RUN": True,
        "EXPOWATCH_CONDITIONAL_GET": False,
        "EXPOWATCH_ARTICLE_LIMIT": limit,
        "EXPOWATCH_SOURCES_FILE": sources_file,
        "LOG_LEVEL": "CRITICAL",  # the report names every failed URL and reason; Scrapy's log would repeat them
    }.items():
        settings.set(key, value, priority="cmdline")
    return settings


def check_source(name: str, sources_file: str | None = None, limit: int = DEFAULT_CHECK_LIMIT) -> CheckReport:
    """Discover and extract up to `limit` articles of one source; returns what would be stored."""
    process = CrawlerProcess(dry_run_settings(sources_file, limit))
    crawler = process.create_crawler(name)
    process.crawl(crawler)
    process.start()
    spider = crawler.spider
    report = CheckReport(source=name)
    if spider is None:
        report.errors.append({"url": "", "reason": "the spider did not start", "kind": "check"})
        return report
    report.discovery_ok = spider.discovery["ok"]
    report.discovery_failed = spider.discovery["failed"]
    report.articles_found = len(spider.requested)
    report.articles = list(spider.checked_articles)
    report.errors = list(spider.errors)
    return report
