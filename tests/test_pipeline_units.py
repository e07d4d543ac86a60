"""Small rules of the worker-side page processing (crawler.page_work) that need no pool or crawl."""

from __future__ import annotations

from datetime import datetime, timezone

from html_pages import EN_PARAGRAPHS, page, paragraphs

from crawler.extract.extraction import ExtractedArticle
from crawler.page_work import PageTask, date_from_listing, process_page



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


def test_listed_date_replaces_htmldates_reading_of_a_page_without_a_date_of_its_own():
    guessed = doc(published_at=datetime(2024, 5, 1, tzinfo=timezone.utc), date_source="htmldate", published_precision="day")
    date_from_listing(guessed, "2024-06-21T08:30:00+00:00", "UTC")
    assert guessed.published_at == datetime(2024, 6, 21, 8, 30, tzinfo=timezone.utc)
    assert guessed.date_source == "listing"


def test_a_page_without_a_date_takes_the_listing_date_before_it_is_tagged():
    html = page("<h1>Expo opens its doors</h1>" + paragraphs(EN_PARAGRAPHS)).encode()
    task = PageTask(html, "http://a.example/news/1.html", listed_date="2025-06-21",
                    source_event="world-intelligence-congress")
    done = process_page(task)
    assert done.article.published_raw == "2025-06-21" and done.article.date_source == "listing"
    # the listing's year reaches the tagger: the expo's 2025 edition, not an undated tag
    assert [(t.event, t.year) for t in done.tags if t.role == "primary"] == [("world-intelligence-expo", 2025)]


def test_a_skipped_page_carries_no_tags_or_fingerprints():
    done = process_page(PageTask(b"<html><body><noscript>Please enable JavaScript</noscript></body></html>",
                                 "http://a.example/app"))
    assert done.article.skip_reason is not None
    assert (done.tags, done.content_hash, done.minhash, done.html_zlib) == ([], None, None, None)
