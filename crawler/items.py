"""What spiders hand to the pipelines."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from crawler.extract.extraction import ExtractedArticle
from crawler.page_work import ProcessedPage


@dataclass
class FetchedPage:
    """An article page as fetched; the pipelines extract, dedupe and store it."""

    source: str
    url: str  # final URL, after redirects
    request_url: str  # the URL discovered and requested
    status: int
    body: bytes = field(repr=False)
    http_charset: str | None
    content_type: str | None
    fetched_at: datetime
    redirect_urls: list[str] = field(default_factory=list)
    listed_date: str | None = None  # ISO date the feed or sitemap gave the article, if any
    skip_reason: str | None = None
    processed: ProcessedPage | None = field(default=None, repr=False)  # set by ProcessPipeline

    @property
    def extracted(self) -> ExtractedArticle | None:
        """The extracted article, once the workers have processed the page."""
        return self.processed.article if self.processed is not None else None
