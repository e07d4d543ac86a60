"""Re-extraction refreshes what near-duplicate lookups read: content hash, MinHash signature and its bands."""

from __future__ import annotations

import pytest
from html_pages import EN_PARAGRAPHS, page, paragraphs
from sqlalchemy import select

from crawler.extract.extraction import ExtractedArticle, extract_article
from storage.dedup import band_hashes, content_hash, text_signature
from storage.duplicates import find_near_duplicate
from storage.engine import session_factory
from storage.migrate import upgrade
from storage.models import Article, MinhashBand
from storage.reextract import apply_extraction
from storage.store import ArticleRecord, compress_html, ensure_source, store_article

OLD_TEXT = ("An earlier extractor kept the site's menu and a cookie notice instead of the story, "
            "which said nothing about any exhibition, hall, visitor or organiser at all. ") * 4
HEADLINE = "Expo Draws Five Hundred Exhibitors to Tianjin"
HTML = page(f"<article><h1>{HEADLINE}</h1>{paragraphs(EN_PARAGRAPHS)}</article>", title=HEADLINE).encode()


def stale_store(url: str) -> int:
    """A store with one article whose text, hash, signature and bands are an old extractor's."""
    upgrade(url)
    with session_factory(url).begin() as session:
        stored = store_article(session, ArticleRecord(
            source_id=ensure_source(session, "wire"), canonical_url="https://wire.example/1", seen_urls=(),
            article=ExtractedArticle(url="https://wire.example/1", title=HEADLINE, text=OLD_TEXT, extractor_version="old"),
            content_hash=content_hash(OLD_TEXT), minhash=text_signature(OLD_TEXT).to_bytes(),
            raw_html_zlib=compress_html(HTML)))
    return stored.article_id


def fingerprints(url: str, article_id: int) -> tuple[str, bytes, set[tuple[int, int]]]:
    with session_factory(url)() as session:
        article = session.get(Article, article_id)
        bands = {(band, value) for band, value in session.execute(
            select(MinhashBand.band, MinhashBand.band_hash).where(MinhashBand.article_id == article_id))}
        return article.content_hash, article.minhash, bands


def expected_for(text: str) -> tuple[str, bytes, set[tuple[int, int]]]:
    sig = text_signature(text)
    return content_hash(text), sig.to_bytes(), set(enumerate(band_hashes(sig)))


def finds(url: str, text: str) -> int | None:
    """The article a copy of text would be linked to, through the band rows."""
    with session_factory(url)() as session:
        match = find_near_duplicate(session, sig=text_signature(text), text=text, title=HEADLINE, source_id=-1)
    return match.canonical_id if match else None


def test_applying_an_extraction_replaces_hash_signature_and_bands(sqlite_url):
    article_id = stale_store(sqlite_url)
    new = extract_article(HTML, "https://wire.example/1")
    assert not new.skip_reason and new.text != OLD_TEXT
    with session_factory(sqlite_url).begin() as session:
        assert apply_extraction(session, article_id, new, content_hash=content_hash(new.text),
                                minhash=text_signature(new.text).to_bytes())
    assert fingerprints(sqlite_url, article_id) == expected_for(new.text)
    assert finds(sqlite_url, new.text) == article_id and finds(sqlite_url, OLD_TEXT) is None


@pytest.mark.integration
def test_reextract_runs_the_crawls_page_work_and_refreshes_the_bands(sqlite_url, run_cli):
    article_id = stale_store(sqlite_url)
    assert fingerprints(sqlite_url, article_id) == expected_for(OLD_TEXT)
    proc = run_cli("reextract", "--db", sqlite_url, check=True)
    assert "1 re-extracted" in proc.stderr
    with session_factory(sqlite_url)() as session:
        text = session.get(Article, article_id).text
    assert text == extract_article(HTML, "https://wire.example/1").text
    assert fingerprints(sqlite_url, article_id) == expected_for(text)
    assert finds(sqlite_url, text) == article_id  # a later copy of the new text finds it
