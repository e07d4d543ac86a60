"""Small pipeline rules that need no crawl."""

from __future__ import annotations

from datetime import datetime, timezone

from crawler.extraction import ExtractedArticle
from crawler.pipelines import date_from_listing


def doc(**fields) -> ExtractedArticle:
    return ExtractedArticle(url="https://a.example/1", title="t", text="x", **fields)


def test_listed_date_fills_in_when_the_page_shows_none():
    article = doc()
    date_from_listing(article, "2024-06-21", "Asia/Shanghai")
    assert article.published_at == datetime(2024, 6, 20, 16, tzinfo=timezone.utc)
    assert (article.date_source, article.published_precision, article.published_raw) == ("listing", "day", "2024-06-21")
    timed = doc()
    date_from_listing(timed, "2024-06-21T08:30:00+00:00", "Asia/Shanghai")
    assert timed.published_at == datetime(2024, 6, 21, 8, 30, tzinfo=timezone.utc) and timed.published_precision == "second"


def test_listed_date_never_overrides_the_page_or_a_flagged_date():
    on_page = datetime(2021, 3, 19, 2, 20, tzinfo=timezone.utc)
    article = doc(published_at=on_page, date_source="byline")
    date_from_listing(article, "2024-06-21", "UTC")
    assert article.published_at == on_page and article.date_source == "byline"
    flagged = doc(date_flag="future")
    date_from_listing(flagged, "2024-06-21", "UTC")
    assert flagged.published_at is None
    garbage = doc()
    date_from_listing(garbage, "next tuesday", "UTC")
    assert garbage.published_at is None
