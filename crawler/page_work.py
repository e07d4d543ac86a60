"""What an extraction worker does with one fetched page, start to finish.

Everything that depends only on the page runs here, in the worker processes and on
every core: extraction, the listing's date when the page shows none, event tags, the
dedup fingerprints (content hash, MinHash signature) and the compressed raw HTML. The
crawl process is left with fetching and storing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from crawler.extract.extraction import ExtractedArticle, ExtractionHints, extract_article
from storage.dedup import content_hash, text_signature
from storage.rawhtml import compress_html


@dataclass(frozen=True)
class PageTask:
    """One fetched page and what the worker needs to know about its source."""

    html: bytes = field(repr=False)
    url: str
    http_charset: str | None = None
    hints: ExtractionHints | None = None
    listed_date: str | None = None  # ISO date a feed or sitemap gave the page
    source_event: str | None = None  # the source's default event (a tie-breaker for the tagger)
    events_file: str | None = None  # user taxonomy merged with the built-in one (None: built-in only)


@dataclass
class ProcessedPage:
    """A page ready to store: the extracted article, its tags and fingerprints (None for a skipped page)."""

    article: ExtractedArticle
    tags: list = field(default_factory=list)  # crawler.events.EventTag
    content_hash: str | None = None
    minhash: bytes | None = None  # storage.dedup.Signature.to_bytes()
    html_zlib: bytes | None = field(default=None, repr=False)


def process_page(task: PageTask) -> ProcessedPage:
    """Extract, date, tag and fingerprint one page (runs in a worker process)."""
    hints = task.hints or ExtractionHints()
    doc = extract_article(task.html, task.url, http_charset=task.http_charset, hints=hints)
    if doc.skip_reason:
        return ProcessedPage(doc)
    if task.listed_date:
        date_from_listing(doc, task.listed_date, hints.timezone)
    return ProcessedPage(
        doc,
        tags=_tags(doc, task),
        content_hash=content_hash(doc.text),
        minhash=text_signature(doc.text).to_bytes(),
        html_zlib=compress_html(task.html),
    )


def date_from_listing(doc: ExtractedArticle, listed: str, zone: str) -> None:
    """Fall back to the date a feed or sitemap gave, when the page itself shows none.

    htmldate's reading of a page that shows no date of its own (date_source
    "htmldate") gives way to the listing too: the feed dated the article itself.
    """
    if (doc.published_at is not None and doc.date_source != "htmldate") or doc.date_flag:
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


def _tags(doc: ExtractedArticle, task: PageTask) -> list:
    from crawler.events import tag_article

    taxonomy = _taxonomy(task.events_file)
    source_event = task.source_event if task.source_event in taxonomy else None
    return tag_article(doc.title or "", doc.text, task.url, source_event=source_event,
                       published=doc.published_at, taxonomy=taxonomy)


@lru_cache(maxsize=4)
def _taxonomy(events_file: str | None):
    """The taxonomy, loaded once per worker process (the crawl checked the file before it started).

    None means the built-in events only: the crawl process has already resolved EXPOWATCH_EVENTS.
    """
    from crawler.events import builtin_taxonomy, load_taxonomy

    return builtin_taxonomy() if events_file is None else load_taxonomy(events_file)
