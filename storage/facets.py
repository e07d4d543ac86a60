"""Facet counts of a search: how many of its matches fall in each event, year, source and language.

facet_counts() counts every match of a query (exact; on a broad query over a big store
that reads every matching row, seconds at 100,000 articles). facets_of_hits() counts a
sample the caller already has, such as the first few hundred matches in the page's
order: what the web view shows beside its filters, in milliseconds. Both count the
matches of the query as given (its filters included), one row per story unless the
query asks for every copy.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import search_sql
from storage.models import Article, ArticleEvent, SourceRow
from storage.queries import ID_BATCH, ArticleHit, SearchQuery

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


def facets_of_hits(session: Session, hits: Sequence[ArticleHit], *, values: int = FACET_VALUES) -> Facets:
    """Facet counts over hits (search() results): total is len(hits)."""
    def top(counter: Counter) -> list:
        return sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))[:values]

    years: Counter = Counter()
    ids = [h.id for h in hits]
    for start in range(0, len(ids), ID_BATCH):
        rows = session.execute(select(ArticleEvent.article_id, ArticleEvent.year).distinct()
                               .where(ArticleEvent.article_id.in_(ids[start:start + ID_BATCH]),
                                      ArticleEvent.role == "primary", ArticleEvent.year.is_not(None)))
        years.update(year for _, year in rows)
    return Facets(
        total=len(hits),
        events=top(Counter(slug for h in hits for slug in set(h.events))),
        years=top(years),
        sources=top(Counter(h.source for h in hits)),
        languages=top(Counter(h.language.lower() for h in hits if h.language)),
    )
