"""Article extraction: raw HTML bytes in, a plain ExtractedArticle out.

Pure function over plain data, built on trafilatura; no Scrapy import here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone

import trafilatura

EXTRACTOR_VERSION = "0.1"


@dataclass(frozen=True)
class ExtractionHints:
    """What a source declaration tells the extractor about its pages."""

    language: str | None = None
    timezone: str = "UTC"
    title_selector: str | None = None
    date_selector: str | None = None
    body_selector: str | None = None
    drop_selectors: tuple[str, ...] = ()
    drop_phrases: tuple[str, ...] = ()
    founded_year: int | None = None


@dataclass
class ExtractedArticle:
    """The fields of one article page, as the pipeline stores them."""

    url: str
    title: str | None
    text: str
    published_at: datetime | None = None  # UTC, tz-aware
    published_raw: str | None = None
    updated_at: datetime | None = None
    updated_raw: str | None = None
    date_flag: str | None = None  # "future" / "before_site" when implausible
    language: str | None = None
    author: str | None = None
    canonical_url: str | None = None  # rel=canonical / og:url as found on the page
    encoding: str | None = None
    skip_reason: str | None = None  # set when the page is not an article
    extractor_version: str = EXTRACTOR_VERSION
    warnings: list[str] = field(default_factory=list)

    def to_json_dict(self) -> dict:
        """A JSON-ready dict (datetimes as ISO 8601 strings)."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
        return out


def extract_article(
    html: bytes,
    url: str,
    *,
    http_charset: str | None = None,
    hints: ExtractionHints | None = None,
) -> ExtractedArticle:
    """Extract title, text, dates and language from one page's raw bytes."""
    hints = hints or ExtractionHints()
    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    if doc is None:
        return ExtractedArticle(url=url, title=None, text="", skip_reason="no_content")
    published = None
    if doc.date:
        published = datetime.fromisoformat(doc.date).replace(tzinfo=timezone.utc)
    return ExtractedArticle(
        url=url,
        title=doc.title,
        text=doc.text or "",
        published_at=published,
        published_raw=doc.date,
        language=hints.language,
        author=doc.author,
    )
