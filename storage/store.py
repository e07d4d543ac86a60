"""Writing to the store. Every function takes a Session; the caller owns the transaction.

Inserts that may repeat (a rerun after a crash, two crawlers seeing one story) are
insert-or-ignore on a unique key, never check-then-insert.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Iterable

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.dedup import DEFAULT_THRESHOLD, Signature, band_hashes
from storage.duplicates import find_near_duplicate, serialise_writers
from storage.events import add_article_tags
from storage.models import (
    Article,
    ArticleUrl,
    MinhashBand,
    RawPage,
    SkippedPage,
    SourceRow,
    extracted_values,
)
from storage.rawhtml import compress_html  # noqa: F401  (re-exported: an ArticleRecord carries its output)

KNOWN_URL_BATCH = 500  # stays below SQLite's bound-parameter limit


def utcnow() -> datetime:
    """The current time, tz-aware UTC."""
    return datetime.now(timezone.utc)


def insert_or_ignore(session: Session, table: Table, values: dict[str, Any], returning=None):
    """INSERT ... ON CONFLICT DO NOTHING on any unique key, on SQLite and PostgreSQL.

    Returns the `returning` column of the new row, or None when the row already existed.
    """
    stmt = _insert_ignoring(session.get_bind().dialect.name, table, returning)
    if returning is None:
        return session.execute(stmt, values).rowcount or None
    return session.execute(stmt, values).scalar_one_or_none()


def insert_many_or_ignore(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """insert_or_ignore for many rows in one executemany."""
    if rows:
        session.execute(_insert_ignoring(session.get_bind().dialect.name, table), rows)


@lru_cache(maxsize=None)
def _insert_ignoring(dialect: str, table: Table, returning=None):
    """One INSERT ... ON CONFLICT DO NOTHING statement per table, built once: values go in as parameters.

    (Building a statement with .values() per row costs more than executing it.)
    """
    insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
    stmt = insert(table).on_conflict_do_nothing()
    return stmt if returning is None else stmt.returning(returning)


def ensure_source(session: Session, name: str, *, homepage: str | None = None,
                  language: str | None = None, timezone_name: str = "UTC") -> int:
    """The id of the source row called name, creating it if needed."""
    insert_or_ignore(session, SourceRow.__table__, {
        "name": name, "homepage": homepage, "language": language,
        "timezone": timezone_name, "first_seen_at": utcnow(),
    })
    return session.execute(select(SourceRow.id).where(SourceRow.name == name)).scalar_one()


def known_urls(session: Session, urls: Iterable[str], *, extractor_version: str | None = None,
               revisable: frozenset[str] = frozenset()) -> set[str]:
    """The URLs among urls that the store has already seen (as articles or skipped pages).

    A page skipped for one of the `revisable` reasons (an extractor's verdict) by another
    extractor than `extractor_version` is not final: it is left out, so it is fetched again.
    """
    urls = list(urls)
    found: set[str] = set()
    skipped = select(SkippedPage.url)
    if extractor_version is not None and revisable:
        skipped = skipped.where(or_(SkippedPage.reason.not_in(sorted(revisable)),
                                    SkippedPage.extractor_version == extractor_version))
    for start in range(0, len(urls), KNOWN_URL_BATCH):
        batch = urls[start:start + KNOWN_URL_BATCH]
        found.update(session.execute(select(ArticleUrl.url).where(ArticleUrl.url.in_(batch))).scalars())
        found.update(session.execute(skipped.where(SkippedPage.url.in_(batch))).scalars())
    return found


# Built once (a statement built per call costs more than running it); Core, so no ORM compile step.
_ARTICLE_AT_URL = select(ArticleUrl.__table__.c.article_id).where(ArticleUrl.__table__.c.url == bindparam("url"))


@dataclass(frozen=True)
class StoredArticle:
    """What storing one fetched article did."""

    outcome: str  # new | known_url | exact_duplicate | near_duplicate
    article_id: int
    canonical_id: int  # the story's canonical (first-seen) article; article_id itself unless a copy
    similarity: float | None = None  # for a near duplicate: Jaccard similarity to the copy it matched


@dataclass(frozen=True)
class ArticleRecord:
    """Everything the store keeps about one extracted article: the extraction and what the crawl adds."""

    source_id: int
    canonical_url: str
    seen_urls: tuple[str, ...]  # every URL this fetch went through (requested, redirected, final)
    article: Any  # the extracted article (ExtractedArticle): stored by the names in EXTRACTED_COLUMNS
    content_hash: str
    raw_html_zlib: bytes | None = None  # compress_html(the page's raw bytes); None: no raw page kept
    http_charset: str | None = None
    minhash: bytes | None = None  # storage.dedup.Signature.to_bytes(); None: no near-duplicate check


def store_article(session: Session, record: ArticleRecord, *, now: datetime | None = None,
                  near_threshold: float = DEFAULT_THRESHOLD) -> StoredArticle:
    """Insert-or-ignore one article and the URLs it was seen at.

    A canonical URL the store has seen (as any article's URL) only adds the URLs as
    aliases; identical normalised text elsewhere is an exact copy (a URL row on the
    existing article); new text is a new article, linked to the canonical article of
    its story when its MinHash finds a near duplicate (see storage.duplicates).
    """
    now = now or utcnow()
    serialise_writers(session)
    known = session.execute(_ARTICLE_AT_URL, {"url": record.canonical_url}).scalar_one_or_none()
    if known is not None:
        return _seen_again(session, record, known, "known_url", now)
    article_id = insert_or_ignore(session, Article.__table__, {
        **extracted_values(record.article),
        "canonical_url": record.canonical_url,
        "source_id": record.source_id,
        "content_hash": record.content_hash,
        "minhash": record.minhash,
        "first_seen_at": now,
        "last_seen_at": now,
    }, returning=Article.id)
    if article_id is None:
        existing = session.execute(
            select(Article.id, Article.canonical_url).where(
                or_(Article.canonical_url == record.canonical_url, Article.content_hash == record.content_hash)
            ).order_by((Article.canonical_url == record.canonical_url).desc())
        ).first()
        if existing is None:  # a concurrent writer's row vanished: cannot happen with FKs; be loud
            raise RuntimeError(f"article {record.canonical_url} neither inserted nor found")
        outcome = "known_url" if existing.canonical_url == record.canonical_url else "exact_duplicate"
        return _seen_again(session, record, existing.id, outcome, now)
    if record.raw_html_zlib is not None:
        insert_or_ignore(session, RawPage.__table__, {
            "article_id": article_id,
            "url": record.canonical_url,
            "http_charset": record.http_charset,
            "fetched_at": now,
            "html_zlib": record.raw_html_zlib,
        })
    stored = StoredArticle(outcome="new", article_id=article_id, canonical_id=article_id)
    if record.minhash is not None:
        sig = Signature.from_bytes(record.minhash)
        bands = band_hashes(sig)
        match = find_near_duplicate(session, sig=sig, text=record.article.text, title=record.article.title,
                                    source_id=record.source_id,
                                    threshold=near_threshold, exclude_id=article_id, bands=bands)
        if match is not None:
            session.execute(update(Article).where(Article.id == article_id).values(
                duplicate_of_id=match.canonical_id, similarity=match.similarity))
            stored = StoredArticle(outcome="near_duplicate", article_id=article_id,
                                   canonical_id=match.canonical_id, similarity=match.similarity)
        index_article(session, article_id, bands)
    _add_urls(session, record, article_id, "original", now)
    return stored


def store_tagged_article(session: Session, *, record: ArticleRecord, tags: Iterable, tagger_version: str,
                         near_threshold: float = DEFAULT_THRESHOLD) -> str:
    """store_article, then the event tags of a new articles row; returns the outcome (a store-writer job)."""
    stored = store_article(session, record, near_threshold=near_threshold)
    if stored.outcome in ("new", "near_duplicate"):
        add_article_tags(session, stored.article_id, tags, tagger_version)
    return stored.outcome


def _seen_again(session: Session, record: ArticleRecord, article_id: int, outcome: str,
                now: datetime) -> StoredArticle:
    """A page whose URL or exact text the store holds: record where it was seen, nothing more."""
    session.execute(update(Article).where(Article.id == article_id).values(last_seen_at=now))
    _add_urls(session, record, article_id, "exact_copy" if outcome == "exact_duplicate" else "original", now)
    canonical = session.execute(select(Article.duplicate_of_id).where(Article.id == article_id)).scalar_one()
    return StoredArticle(outcome=outcome, article_id=article_id, canonical_id=canonical or article_id)


def _add_urls(session: Session, record: ArticleRecord, article_id: int, relation: str, now: datetime) -> None:
    """URL rows for the page's canonical URL (with relation) and every other URL it came through (alias)."""
    insert_many_or_ignore(session, ArticleUrl.__table__, [{
        "url": url,
        "article_id": article_id,
        "source_id": record.source_id,
        "relation": relation if url == record.canonical_url else "alias",
        "first_seen_at": now,
    } for url in dict.fromkeys((record.canonical_url, *record.seen_urls))])


def index_article(session: Session, article_id: int, bands: list[int]) -> None:
    """Add an article's LSH band rows (storage.dedup.band_hashes), so later copies find it (idempotent)."""
    insert_many_or_ignore(session, MinhashBand.__table__, [
        {"band": band, "band_hash": value, "article_id": article_id} for band, value in enumerate(bands)
    ])


def record_skipped_page(session: Session, source_id: int, url: str, reason: str,
                        extractor_version: str | None = None) -> None:
    """Remember a page that is not an article, so it is not fetched again (by the same extractor)."""
    insert_or_ignore(session, SkippedPage.__table__, {
        "url": url, "source_id": source_id, "reason": reason, "first_seen_at": utcnow(),
        "extractor_version": extractor_version,
    })
    if extractor_version is not None:  # judged again: the newest verdict is the one kept
        session.execute(update(SkippedPage).where(
            SkippedPage.url == url,
            or_(SkippedPage.extractor_version.is_(None), SkippedPage.extractor_version != extractor_version),
        ).values(reason=reason, extractor_version=extractor_version))


def this_host() -> str:
    """The name runs record as the host of their crawl process."""
    return socket.gethostname()


def counts_from_store(session: Session, source_id: int, since: datetime, until: datetime | None = None) -> dict[str, int]:
    """What the store holds of a source from a time window: the counts of a run that could not record its own."""
    def count(table, *conditions) -> int:
        query = select(func.count()).select_from(table).where(table.c.source_id == source_id,
                                                              table.c.first_seen_at >= since, *conditions)
        if until is not None:
            query = query.where(table.c.first_seen_at <= until)
        return session.scalar(query) or 0

    return {"articles_new": count(Article.__table__),
            "articles_duplicate": count(ArticleUrl.__table__, ArticleUrl.__table__.c.relation == "exact_copy"),
            "articles_skipped": count(SkippedPage.__table__)}
