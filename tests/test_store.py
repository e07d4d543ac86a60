"""The store: schema by migration, insert-or-ignore, provenance of every URL, run records."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, inspect, select

from crawler.extract.extraction import ExtractedArticle
from storage.dedup import content_hash
from storage.engine import get_engine, session_factory
from storage.migrate import current_revision, head_revision, upgrade
from storage.models import Article, ArticleUrl, CrawlRun
from storage.runs import finish_run, start_run
from storage.store import (
    ArticleRecord,
    compress_html,
    ensure_source,
    known_urls,
    store_article,
)


def record(source_id: int, url: str, text: str, *seen: str) -> ArticleRecord:
    article = ExtractedArticle(url=url, title="T", text=text, extractor_version="test",
                               published_at=datetime(2021, 3, 19, 2, 20, tzinfo=timezone.utc))
    return ArticleRecord(source_id=source_id, canonical_url=url, seen_urls=seen, article=article,
                         content_hash=content_hash(text), raw_html_zlib=compress_html(b"<html></html>"))


@pytest.fixture
def db(db_url):
    upgrade(db_url)
    return session_factory(db_url)


def test_migration_creates_the_schema(db_url, db):
    engine = get_engine(db_url)
    assert current_revision(engine) == head_revision(db_url)
    tables = set(inspect(engine).get_table_names())
    assert {"sources", "articles", "article_urls", "crawl_runs", "raw_pages", "article_events", "minhash_bands"} <= tables


def test_sqlite_gets_wal_foreign_keys_and_a_busy_timeout(sqlite_url):
    upgrade(sqlite_url)
    with get_engine(sqlite_url).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_same_article_twice_is_stored_once(db):
    with db.begin() as s:
        sid = ensure_source(s, "a")
        first = store_article(s, record(sid, "https://a.example/1", "Robots at the expo in Tianjin."))
    with db.begin() as s:
        again = store_article(s, record(sid, "https://a.example/1", "Robots at the expo in Tianjin."))
    assert (first.outcome, again.outcome) == ("new", "known_url")
    assert first.article_id == again.article_id
    with db() as s:
        assert s.scalar(select(func.count()).select_from(Article)) == 1


def test_exact_copy_elsewhere_adds_provenance_not_an_article(db):
    with db.begin() as s:
        a, b = ensure_source(s, "organiser"), ensure_source(s, "wire")
        store_article(s, record(a, "https://org.example/1", "The expo opens on June 20."))
        copy = store_article(s, record(b, "https://wire.example/9", "The  expo opens, on June 20!", "https://wire.example/9?utm_source=x"))
    assert copy.outcome == "exact_duplicate"
    with db() as s:
        rows = s.execute(select(ArticleUrl.url, ArticleUrl.relation, ArticleUrl.source_id).order_by(ArticleUrl.id)).all()
        assert s.scalar(select(func.count()).select_from(Article)) == 1
        assert known_urls(s, ["https://wire.example/9", "https://nowhere.example/"]) == {"https://wire.example/9"}
    assert ("https://wire.example/9", "exact_copy", b) in rows
    assert ("https://wire.example/9?utm_source=x", "alias", b) in rows


def test_naive_datetimes_are_refused(db):
    with db.begin() as s:
        sid = ensure_source(s, "a")
        bad = record(sid, "https://a.example/2", "text")
        bad = replace(bad, article=replace(bad.article, published_at=datetime(2021, 1, 1)))
        with pytest.raises(Exception, match="naive datetime"):
            store_article(s, bad)


def test_a_run_left_running_by_a_killed_process_is_marked_failed(db):
    with db.begin() as s:
        sid = ensure_source(s, "a")
        stale = start_run(s, sid)
    with db.begin() as s:
        fresh = start_run(s, sid)
        finish_run(s, fresh, status="ok")
    with db() as s:
        runs = {r.id: r for r in s.scalars(select(CrawlRun))}
    assert runs[stale].status == "failed" and "interrupted" in runs[stale].message
    assert runs[fresh].status == "ok" and runs[fresh].finished_at.tzinfo is not None


def test_the_migrations_build_exactly_the_models(db_url, db):
    """A model change without its migration (or the reverse) fails here, on both backends."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from storage.models import Base

    with get_engine(db_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # the search index (FTS table, trigram indexes) and APScheduler's job table are not models
    unmodelled = ("articles_fts", "apscheduler_jobs", "trgm")
    assert [d for d in diff if not any(name in str(d) for name in unmodelled)] == []


def test_a_skip_is_final_only_for_the_extractor_that_made_it(tmp_path):
    """Extractor verdicts (not_html ...) are retried by another extractor version; site verdicts stay final."""
    from storage.engine import session_factory
    from storage.migrate import upgrade
    from storage.store import ensure_source, known_urls, record_skipped_page

    url = f"sqlite:///{tmp_path / 'skips.db'}"
    upgrade(url)
    revisable = frozenset({"not_html"})
    with session_factory(url).begin() as session:
        source_id = ensure_source(session, "s")
        record_skipped_page(session, source_id, "http://a.example/1", "not_html", extractor_version="1.0")
        record_skipped_page(session, source_id, "http://a.example/2", "http_404", extractor_version="1.0")
        record_skipped_page(session, source_id, "http://a.example/3", "not_html")  # before extractor versions
    urls = ["http://a.example/1", "http://a.example/2", "http://a.example/3"]
    with session_factory(url)() as session:
        assert known_urls(session, urls) == set(urls)
        assert known_urls(session, urls, extractor_version="1.0", revisable=revisable) == set(urls[:2])
        assert known_urls(session, urls, extractor_version="2.0", revisable=revisable) == {urls[1]}
    with session_factory(url).begin() as session:  # judged again by 2.0: final for 2.0
        record_skipped_page(session, source_id, urls[0], "too_short", extractor_version="2.0")
    with session_factory(url)() as session:
        assert known_urls(session, urls, extractor_version="2.0", revisable=revisable) == set(urls[:2])
