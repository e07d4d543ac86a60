"""What a source declaration tells the extractor (Scrapy-free, so tests and tools share it)."""

from __future__ import annotations

from crawler.extract.extraction import ExtractionHints
from spiders.sources import Source


def hints_for(source: Source) -> ExtractionHints:
    """The extraction hints of a source: language, time zone, selectors, boilerplate to drop."""
    sel = source.selectors
    return ExtractionHints(
        language=source.language,
        timezone=source.timezone,
        title_selector=sel.title,
        date_selector=sel.date,
        body_selector=sel.body,
        drop_selectors=sel.drop_selectors,
        drop_phrases=sel.drop_phrases,
        founded_year=source.founded,
    )
