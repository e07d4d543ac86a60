"""Event tags in the store: write an article's tags, count articles per event and edition."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.orm import Session

from storage.models import Article, ArticleEvent, SourceRow


class TagLike(Protocol):
    """What the store needs of a tag (crawler.events.EventTag satisfies it)."""

    event: str
    role: str
    edition: int | None
    year: int | None
    confidence: float

    def to_dict(self) -> dict: ...


def replace_article_tags(session: Session, article_id: int, tags: Iterable[TagLike], tagger_version: str) -> None:
    """Make the article's stored tags exactly `tags` (one row per event and year; the first wins)."""
    session.execute(_DELETE_TAGS, {"article_id": article_id})
    add_article_tags(session, article_id, tags, tagger_version)


def add_article_tags(session: Session, article_id: int, tags: Iterable[TagLike], tagger_version: str) -> None:
    """Tag an article that has no tags yet (a new one): replace_article_tags without the delete."""
    rows: dict[tuple[str, int | None], dict] = {}
    for tag in tags:
        rows.setdefault((tag.event, tag.year), {
            "article_id": article_id, "event": tag.event, "role": tag.role, "edition": tag.edition,
            "year": tag.year, "confidence": tag.confidence, "evidence": tag.to_dict()["evidence"],
            "tagger_version": tagger_version,
        })
    if rows:
        session.execute(_INSERT_TAG, list(rows.values()))


# Built once: Core statements, parameters bound per call.
_DELETE_TAGS = delete(ArticleEvent.__table__).where(ArticleEvent.__table__.c.article_id == bindparam("article_id"))
_INSERT_TAG = insert(ArticleEvent.__table__)


@dataclass(frozen=True)
class ArticleForTagging:
    """The fields the tagger reads, for retagging stored articles."""

    id: int
    title: str
    text: str
    url: str
    source: str
    published_at: object


def articles_for_tagging(session: Session, *, source: str | None = None, event: str | None = None,
                         batch: int = 500) -> Iterator[ArticleForTagging]:
    """Stored articles (optionally of one source, or currently tagged with one event), in id order."""
    stmt = (select(Article.id, Article.title, Article.text, Article.canonical_url, SourceRow.name, Article.published_at)
            .join(SourceRow, Article.source_id == SourceRow.id).order_by(Article.id))
    if source:
        stmt = stmt.where(SourceRow.name == source)
    if event:
        stmt = stmt.where(Article.id.in_(select(ArticleEvent.article_id).where(ArticleEvent.event == event)))
    for row in session.execute(stmt.execution_options(yield_per=batch)):
        yield ArticleForTagging(row[0], row[1] or "", row[2], row[3], row[4], row[5])


def stored_event_slugs(session: Session) -> list[str]:
    """Every event slug some stored article is tagged with, sorted."""
    return list(session.scalars(select(ArticleEvent.event).distinct().order_by(ArticleEvent.event)))


def event_counts(session: Session) -> dict[tuple[str, int | None], dict[str, int]]:
    """Article counts per (event, year) and role: {(slug, year): {"primary": n, "mentioned": m}}."""
    counts: dict[tuple[str, int | None], dict[str, int]] = {}
    rows = session.execute(
        select(ArticleEvent.event, ArticleEvent.year, ArticleEvent.role, func.count())
        .group_by(ArticleEvent.event, ArticleEvent.year, ArticleEvent.role)
    )
    for slug, year, role, n in rows:
        counts.setdefault((slug, year), {"primary": 0, "mentioned": 0})[role] = n
    return counts
