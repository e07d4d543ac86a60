"""Writing to the store. Every function takes a Session; the caller owns the transaction.

Inserts that may repeat (a rerun after a crash, two crawlers seeing one story) are
insert-or-ignore on a unique key, never check-then-insert.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import (
    Article,
    ArticleUrl,
    CrawlRun,
    RawPage,
    SkippedPage,
    SourceRow,
)

RAW_HTML_COMPRESSION = 6  # zlib level: most of level 9's saving at a fraction of its CPU
KNOWN_URL_BATCH = 500  # stays below SQLite's bound-parameter limit


def utcnow() -> datetime:
    """The current time, tz-aware UTC."""
    return datetime.now(timezone.utc)


def insert_or_ignore(session: Session, table: Table, values: dict[str, Any], returning=None):
    """INSERT ... ON CONFLICT DO NOTHING on any unique key, on SQLite and PostgreSQL.

    Returns the `returning` column of the new row, or None when the row already existed.
    """
    dialect = session.get_bind().dialect.name
    insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
    stmt = insert(table).values(**values).on_conflict_do_nothing()
    if returning is None:
        return session.execute(stmt).rowcount or None
    return session.execute(stmt.returning(returning)).scalar_one_or_none()


def ensure_source(session: Session, name: str, *, homepage: str | None = None,
                  language: str | None = None, timezone_name: str = "UTC") -> int:
    """The id of the source row called name, creating it if needed."""
    insert_or_ignore(session, SourceRow.__table__, {
        "name": name, "homepage": homepage, "language": language,
        "timezone": timezone_name, "first_seen_at": utcnow(),
    })
    return session.execute(select(SourceRow.id).where(SourceRow.name == name)).scalar_one()


def known_urls(session: Session, urls: Iterable[str]) -> set[str]:
    """The URLs among urls that the store has already seen (as articles or skipped pages)."""
    urls = list(urls)
    found: set[str] = set()
    for start in range(0, len(urls), KNOWN_URL_BATCH):
        batch = urls[start:start + KNOWN_URL_BATCH]
        found.update(session.execute(select(ArticleUrl.url).where(ArticleUrl.url.in_(batch))).scalars())
        found.update(session.execute(select(SkippedPage.url).where(SkippedPage.url.in_(batch))).scalars())
    return found


@dataclass(frozen=True)
class StoredArticle:
    """What storing one fetched article did."""

    outcome: str  # new | known_url | exact_duplicate
    article_id: int


@dataclass(frozen=True)
class ArticleRecord:
    """Everything the store keeps about one extracted article."""

    source_id: int
    canonical_url: str
    seen_urls: tuple[str, ...]  # every URL this fetch went through (requested, redirected, final)
    title: str | None
    text: str
    content_hash: str
    author: str | None = None
    published_at: datetime | None = None
    published_raw: str | None = None
    updated_at: datetime | None = None
    updated_raw: str | None = None
    date_flag: str | None = None
    language: str | None = None
    extractor_version: str = ""
    raw_html: bytes | None = None
    http_charset: str | None = None


def store_article(session: Session, record: ArticleRecord, *, now: datetime | None = None) -> StoredArticle:
    """Insert-or-ignore one article and the URLs it was seen at.

    A new canonical URL with new text is a new article; a known canonical URL or
    identical text (an exact copy elsewhere) only adds the URLs as provenance.
    """
    now = now or utcnow()
    article_id = insert_or_ignore(session, Article.__table__, {
        "canonical_url": record.canonical_url,
        "source_id": record.source_id,
        "title": record.title,
        "text": record.text,
        "author": record.author,
        "published_at": record.published_at,
        "published_raw": record.published_raw,
        "updated_at": record.updated_at,
        "updated_raw": record.updated_raw,
        "date_flag": record.date_flag,
        "language": record.language,
        "content_hash": record.content_hash,
        "first_seen_at": now,
        "last_seen_at": now,
        "extractor_version": record.extractor_version,
    }, returning=Article.id)
    if article_id is not None:
        outcome = "new"
        relation_of_canonical = "original"
        if record.raw_html is not None:
            insert_or_ignore(session, RawPage.__table__, {
                "article_id": article_id,
                "url": record.canonical_url,
                "http_charset": record.http_charset,
                "fetched_at": now,
                "html_zlib": zlib.compress(record.raw_html, RAW_HTML_COMPRESSION),
            })
    else:
        existing = session.execute(
            select(Article.id, Article.canonical_url).where(
                or_(Article.canonical_url == record.canonical_url, Article.content_hash == record.content_hash)
            ).order_by((Article.canonical_url == record.canonical_url).desc())
        ).first()
        if existing is None:  # a concurrent writer's row vanished: cannot happen with FKs; be loud
            raise RuntimeError(f"article {record.canonical_url} neither inserted nor found")
        article_id = existing.id
        if existing.canonical_url == record.canonical_url:
            outcome, relation_of_canonical = "known_url", "original"
        else:
            outcome, relation_of_canonical = "exact_duplicate", "exact_copy"
        session.execute(update(Article).where(Article.id == article_id).values(last_seen_at=now))
    for url in dict.fromkeys((record.canonical_url, *record.seen_urls)):
        insert_or_ignore(session, ArticleUrl.__table__, {
            "url": url,
            "article_id": article_id,
            "source_id": record.source_id,
            "relation": relation_of_canonical if url == record.canonical_url else "alias",
            "first_seen_at": now,
        })
    return StoredArticle(outcome=outcome, article_id=article_id)


def record_skipped_page(session: Session, source_id: int, url: str, reason: str) -> None:
    """Remember a page that is not an article, so it is not fetched again."""
    insert_or_ignore(session, SkippedPage.__table__, {
        "url": url, "source_id": source_id, "reason": reason, "first_seen_at": utcnow(),
    })


INTERRUPTED = "interrupted: the crawl process ended before recording its result"


def start_run(session: Session, source_id: int) -> int:
    """Open a crawl_runs row; runs of this source left 'running' by a killed process become failed."""
    now = utcnow()
    session.execute(
        update(CrawlRun)
        .where(and_(CrawlRun.source_id == source_id, CrawlRun.status == "running"))
        .values(status="failed", finished_at=now, message=INTERRUPTED)
    )
    run = CrawlRun(source_id=source_id, started_at=now, status="running",
                   skip_reasons={}, errors=[], stats={})
    session.add(run)
    session.flush()
    return run.id


def finish_run(session: Session, run_id: int, **fields: Any) -> None:
    """Close a crawl_runs row with its status, counts, errors and stats."""
    session.execute(update(CrawlRun).where(CrawlRun.id == run_id).values(finished_at=utcnow(), **fields))
