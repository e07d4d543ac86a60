"""Counts that summarise a store: articles per source and per event, duplicates, skips."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Article, ArticleEvent, ArticleUrl, SkippedPage, SourceRow


@dataclass
class StoreOverview:
    """What is in the store, at a glance."""

    articles: int = 0
    stories: int = 0  # articles that are not near-copies of another
    per_source: dict[str, int] = field(default_factory=dict)
    per_event: dict[str, int] = field(default_factory=dict)  # primary tags
    near_copies: int = 0
    exact_copies: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


def store_overview(session: Session) -> StoreOverview:
    """Count articles per source and event, copies found and pages skipped by reason."""
    per_source = dict(session.execute(
        select(SourceRow.name, func.count(Article.id))
        .join(Article, Article.source_id == SourceRow.id)
        .group_by(SourceRow.name).order_by(SourceRow.name)
    ).all())
    per_event = dict(session.execute(
        select(ArticleEvent.event, func.count(func.distinct(ArticleEvent.article_id)))
        .where(ArticleEvent.role == "primary")
        .group_by(ArticleEvent.event).order_by(ArticleEvent.event)
    ).all())
    articles = sum(per_source.values())
    near = session.scalar(select(func.count()).select_from(Article).where(Article.duplicate_of_id.is_not(None)))
    exact = session.scalar(select(func.count()).select_from(ArticleUrl).where(ArticleUrl.relation == "exact_copy"))
    skipped = Counter(dict(session.execute(
        select(SkippedPage.reason, func.count()).group_by(SkippedPage.reason)
    ).all()))
    return StoreOverview(articles=articles, stories=articles - near, per_source=per_source, per_event=per_event,
                         near_copies=near, exact_copies=exact, skipped=dict(skipped))
