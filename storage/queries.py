"""Reading the store: the Python API behind `expowatch search` (and scripts and notebooks)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from storage.models import Article, SourceRow


@dataclass(frozen=True)
class ArticleHit:
    """One article as a search returns it."""

    id: int
    title: str | None
    url: str
    source: str
    published_at: datetime | None
    language: str | None
    first_seen_at: datetime

    def to_dict(self) -> dict:
        out = asdict(self)
        for key in ("published_at", "first_seen_at"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


def search_articles(session: Session, query: str | None = None, *, limit: int = 20) -> list[ArticleHit]:
    """Articles whose title or text contains every word of query, newest first."""
    stmt = select(Article, SourceRow.name).join(SourceRow, Article.source_id == SourceRow.id)
    for word in (query or "").split():
        pattern = f"%{word}%"
        stmt = stmt.where(or_(Article.title.ilike(pattern), Article.text.ilike(pattern)))
    stmt = stmt.order_by(Article.published_at.desc().nulls_last(), Article.id.desc()).limit(limit)
    return [
        ArticleHit(id=a.id, title=a.title, url=a.canonical_url, source=name,
                   published_at=a.published_at, language=a.language, first_seen_at=a.first_seen_at)
        for a, name in session.execute(stmt)
    ]
