"""Facet counts of a search: how many of its matches fall in each event, year, source and language.

The web view shows them beside its filters. They count the matches of the query as
given (its filters included), one row per story unless the query asks for every copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import search_sql
from storage.models import Article, ArticleEvent, SourceRow
from storage.queries import SearchQuery

FACET_VALUES = 12  # values shown per facet, the most frequent first: a column beside the results


@dataclass(frozen=True)
class Facets:
    """Per facet, (value, matches) pairs, most matches first."""

    total: int = 0
    events: list[tuple[str, int]] = field(default_factory=list)
    years: list[tuple[int, int]] = field(default_factory=list)
    sources: list[tuple[str, int]] = field(default_factory=list)
    languages: list[tuple[str, int]] = field(default_factory=list)


def facet_counts(session: Session, query: SearchQuery, *, values: int = FACET_VALUES) -> Facets:
    """Count the matches of query (ignoring its paging) per event, year, source and language."""
    every = replace(query, limit=None, offset=0)
    matches = search_sql.matching_select(session, every, (Article.id.label("id"), Article.source_id.label("source_id"),
                                                          Article.language.label("language")), ordered=False)
    matching = matches.subquery("matching")
    total = session.execute(select(func.count()).select_from(matching)).scalar_one()
    if not total:
        return Facets()

    def top(stmt, key, counted=None):
        n = (func.count(func.distinct(counted)) if counted is not None else func.count()).label("n")
        return [(k, c) for k, c in session.execute(stmt.add_columns(n).group_by(key).order_by(n.desc(), key)
                                                    .limit(values)) if k is not None]

    events = top(select(ArticleEvent.event).join(matching, matching.c.id == ArticleEvent.article_id),
                 ArticleEvent.event, ArticleEvent.article_id)
    years = top(select(ArticleEvent.year).join(matching, matching.c.id == ArticleEvent.article_id)
                .where(ArticleEvent.role == "primary"), ArticleEvent.year, ArticleEvent.article_id)
    sources = top(select(SourceRow.name).join(matching, matching.c.source_id == SourceRow.id), SourceRow.name)
    language = func.lower(matching.c.language)
    languages = top(select(language).select_from(matching), language)
    return Facets(total, events, years, sources, languages)
