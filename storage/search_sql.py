"""SQL for searches: the text query and filters as SQLAlchemy statements, and how to run a page.

storage.queries is the API; this module turns a SearchQuery into SQL for SQLite (FTS5
trigram index, with LIKE for terms shorter than a trigram) or PostgreSQL (ILIKE served
by pg_trgm indexes), and picks how to fetch one page on SQLite: a search that matches
few articles reads them all and sorts them; one that matches many walks the date index
newest first instead (page_plan). Every plan returns the same rows. The text index is
read once per search: the matches it gives (when there are at most KNOWN_MATCHES) serve
the page and the count alike.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Sequence

from sqlalchemy import (
    ColumnElement,
    Select,
    UnaryExpression,
    and_,
    case,
    column,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    table,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import operators

from storage import relevance
from storage.models import Article, ArticleEvent, ArticleUrl, SourceRow
from storage.query_syntax import Clause, fts5_any, fts5_expression, fts5_phrase, parse_query

if TYPE_CHECKING:
    from storage.queries import SearchQuery

TITLE_WEIGHT = 5.0  # a term in the title says more about the story than one in the body
TEXT_WEIGHT = 1.0
LIKE_ESCAPE = "\\"
LIKE_WINDOW = 5000  # newest articles that a very broad query first searches by LIKE: some 10 ms of
#                    LIKE, and a term expected twice a page in them rarely misses (then: the index)
DENSE_FACTOR = 0.55  # walk the date index for a page when more than 0.55 * sqrt(page end * articles)
#                      match: reading a matching row (past its text) to sort it costs about 3.3 steps along
#                      the date index (5.5 and 1.65 us in benchmarks/web.py's store), and a walk takes
#                      about page_end * articles / matches steps (when the matches are spread evenly in time)
KNOWN_MATCHES = 5000  # the text index's matches are read up to this many (a few ms): when that is all of
#                       them, the page and the count use the ids instead of asking the index again (a
#                       phrase of many trigrams takes tens of ms each time), and reading them all for a
#                       page by date costs at most some 30 ms (a broad term pays some 10 ms of CPU to
#                       find it has more: a try by LIKE first is cheaper for it, but costs a term of old
#                       news some 50 ms more, benchmarks/web.py)

FTS_TABLE = table("articles_fts", column("rowid"))
FTS_MATCH_TARGET = literal_column("articles_fts")  # FTS5: `<table> MATCH <expression>`
FTS_RANK = literal_column("rank")  # FTS5's hidden rank column, ordered inside the index
RANK_FUNCTION = f"bm25({TITLE_WEIGHT}, {TEXT_WEIGHT})"


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def _like_pattern(term: str) -> str:
    escaped = term.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")
    return f"%{escaped}%"


def _fts_rowids(expression: str) -> Select:
    # correlate(None): never bind to an articles_fts joined by the enclosing query
    return select(FTS_TABLE.c.rowid).where(FTS_MATCH_TARGET.op("MATCH")(expression)).correlate(None)


def _id_set(ids: Sequence[int]) -> Select:
    """SELECT of the given ids (SQLite: one JSON parameter, however many there are)."""
    each = func.json_each(json.dumps(list(ids))).table_valued("value")
    return select(each.c.value)


def fts_expression_of(query: SearchQuery) -> str | None:
    """The FTS5 expression of query's indexable clauses (None: nothing for the index to look up)."""
    return fts5_expression(tuple(c for c in parse_query(query.text) if c.indexable))


def known_matches(session: Session, fts_expression: str, up_to: int = KNOWN_MATCHES) -> list[int] | None:
    """Every article id the text index matches (copies too), or None when there are more than up_to."""
    ids = list(session.execute(_fts_rowids(fts_expression).limit(up_to + 1)).scalars())
    return ids if len(ids) <= up_to else None


def _substring(term: str, dialect: str, use_index: bool = True) -> ColumnElement[bool]:
    """title or text contains term (case-insensitively); may be NULL for a NULL title."""
    if dialect == "sqlite":
        if len(term) >= 3 and use_index:
            return Article.id.in_(_fts_rowids(fts5_phrase(term)))
        pattern = _like_pattern(term)  # SQLite's LIKE ignores ASCII case
        return or_(Article.title.like(pattern, escape=LIKE_ESCAPE), Article.text.like(pattern, escape=LIKE_ESCAPE))
    pattern = _like_pattern(term)  # pg_trgm indexes serve ILIKE '%...%' of 3+ characters
    return or_(Article.title.ilike(pattern, escape=LIKE_ESCAPE), Article.text.ilike(pattern, escape=LIKE_ESCAPE))


def _clause_condition(clause: Clause, dialect: str, use_index: bool = True) -> ColumnElement[bool]:
    if clause.negated and dialect == "sqlite" and clause.indexable and use_index:
        return Article.id.not_in(_fts_rowids(fts5_any(clause.terms)))
    matches = or_(*(_substring(t, dialect, use_index) for t in clause.terms))
    return not_(func.coalesce(matches, false())) if clause.negated else matches


@dataclass
class _TextMatch:
    """How a parsed text query enters the statement."""

    fts_expression: str | None = None  # SQLite: joined FTS5 MATCH (gives bm25 relevance)
    conditions: list[ColumnElement[bool]] = field(default_factory=list)
    rank: ColumnElement | None = None  # ascending = more relevant (PostgreSQL; SQLite ranks in FTS5)


def _text_match(text: str, dialect: str, use_index: bool = True) -> _TextMatch:
    clauses = parse_query(text)
    if not clauses:
        return _TextMatch()
    if not use_index:
        return _TextMatch(None, [_clause_condition(c, dialect, use_index=False) for c in clauses])
    if dialect == "sqlite":
        indexable = tuple(c for c in clauses if c.indexable)
        expression = fts5_expression(indexable)
        rest = [c for c in clauses if not c.indexable] if expression else list(clauses)
        return _TextMatch(expression, [_clause_condition(c, dialect) for c in rest])
    positive = [t for c in clauses if not c.negated for t in c.terms]
    rank = None
    if positive:  # no bm25 here: weigh title hits above text hits (negated, so ascending sorts best first)
        rank = -sum(
            case((Article.title.ilike(_like_pattern(t), escape=LIKE_ESCAPE), TITLE_WEIGHT), else_=0.0)
            + case((Article.text.ilike(_like_pattern(t), escape=LIKE_ESCAPE), TEXT_WEIGHT), else_=0.0)
            for t in positive
        )
    return _TextMatch(None, [_clause_condition(c, dialect) for c in clauses], rank)


def _after(column_a, column_b, instant: datetime, *, before: bool = False) -> ColumnElement[bool]:
    """column_a on the right side of instant; rows where column_a is NULL use column_b."""
    def test(col):
        return col < instant if before else col >= instant
    return or_(test(column_a), and_(column_a.is_(None), test(column_b)))


def _unindexed(col, dialect: str):
    """col as SQLite's planner will not look it up in an index (a unary +)."""
    return UnaryExpression(col, operator=operators.custom_op("+"), type_=col.type) \
        if dialect == "sqlite" else col


def _filters(session: Session, query: SearchQuery, dialect: str, *, date_page: bool,
             text_first: bool = False) -> list[ColumnElement[bool]]:
    """The WHERE conditions of query's filters (date_page: one page in date order is wanted;
    text_first: the text index's matches drive the search, so since/until must not: their
    "date, or first seen when undated" is an OR that SQLite would answer by collecting and
    sorting every article in the range)."""
    conditions: list[ColumnElement[bool]] = []
    if not query.all_copies:
        # Most articles are not copies: an index lookup of "IS NULL" would visit nearly every
        # row and then sort them all, where walking the date index stops after one page.
        conditions.append(_unindexed(Article.duplicate_of_id, dialect).is_(None))
    if query.events or query.years or query.editions or query.roles:
        tags = select(ArticleEvent.article_id)
        if query.events:
            tags = tags.where(ArticleEvent.event.in_([e.lower() for e in query.events]))
        if query.years:
            tags = tags.where(ArticleEvent.year.in_(query.years))
        if query.editions:
            tags = tags.where(ArticleEvent.edition.in_(query.editions))
        if query.roles:
            tags = tags.where(ArticleEvent.role.in_(query.roles))
        dense = date_page and dialect == "sqlite" and _dense(session, query, tags)
        conditions.append((_unindexed(Article.id, dialect) if dense else Article.id).in_(tags))
    if query.sources:
        source_ids = select(SourceRow.id).where(SourceRow.name.in_(query.sources)).scalar_subquery()
        from_source = [
            Article.source_id.in_(source_ids),
            Article.id.in_(select(ArticleUrl.article_id).where(ArticleUrl.source_id.in_(source_ids))),
        ]
        if not query.all_copies:
            copy = aliased(Article)
            from_source.append(Article.id.in_(
                select(copy.duplicate_of_id).where(copy.source_id.in_(source_ids), copy.duplicate_of_id > 0)))
            # (> 0 rather than IS NOT NULL: SQLite reads the copies from their index, not every row)
        conditions.append(or_(*from_source))
    if query.languages:
        langs = [lang.lower() for lang in query.languages]
        lang = func.lower(Article.language)
        conditions.append(or_(lang.in_(langs), *(lang.like(f"{code}-%") for code in langs)))
    dated = (Article.published_at, Article.first_seen_at) if query.date_field == "published" \
        else (Article.first_seen_at, Article.first_seen_at)
    if text_first:
        dated = tuple(_unindexed(col, dialect) for col in dated)
    if query.since is not None:
        conditions.append(_after(*dated, query.since))
    if query.until is not None:
        conditions.append(_after(*dated, query.until, before=True))
    if query.first_seen_since is not None:
        conditions.append(Article.first_seen_at >= query.first_seen_since)
    return conditions


def _like_is_exact(text: str) -> bool:
    """True when LIKE matches the terms of text exactly as the trigram index does.

    Both fold ASCII case; only the index folds other scripts' case (É/é), so a term
    with a cased non-ASCII letter must stay with the index. Chinese has no case.
    """
    return all(ord(ch) < 128 or ch.lower() == ch.upper()
               for clause in parse_query(text) for term in clause.terms for ch in term)


def _page_end_and_size(session: Session, query: SearchQuery) -> tuple[int, int]:
    articles = session.execute(select(func.max(Article.id))).scalar() or 0  # max id: as good as count, and free
    return query.offset + (query.limit or 0), articles


def _count_up_to(session: Session, article_ids: Select, cap: int) -> int:
    return session.execute(select(func.count()).select_from(article_ids.limit(cap + 1).subquery())).scalar_one()


def _dense(session: Session, query: SearchQuery, article_ids: Select) -> bool:
    """True when article_ids (a SELECT of ids) holds so many of the articles that one page in
    date order is found faster by walking the date index than by reading and sorting them all."""
    page_end, articles = _page_end_and_size(session, query)
    dense_from = int(DENSE_FACTOR * math.sqrt(page_end * articles))
    return _count_up_to(session, article_ids, dense_from) > dense_from


Plan = tuple[str, "list[int] | None"]  # (how, the text index's matches when all of them are known)


def page_plan(session: Session, query: SearchQuery, fts_expression: str) -> Plan:
    """How to fetch one page by date of a text query on SQLite, and the matching ids when known.

    "ids": up to KNOWN_MATCHES articles match (or more, when reading them costs less than
    walking the date index, see DENSE_FACTOR): read them and sort them, a cost bounded by
    their number. (Walking the date index instead could cost far more than its average:
    news of an event is old all together, and the walk passes every newer article first.)
    With more, walk the date index newest first, testing each article until the page is
    full ("date-index"); or, when so many match that a page is likely among the newest
    LIKE_WINDOW articles, test those by LIKE first ("date-like", only where LIKE is exact
    for the terms).
    """
    page_end, articles = _page_end_and_size(session, query)
    read_up_to = max(KNOWN_MATCHES, int(DENSE_FACTOR * math.sqrt(page_end * articles)))
    like_from = 2 * page_end * articles // LIKE_WINDOW  # two pages' worth expected in the window
    ids = known_matches(session, fts_expression, read_up_to)
    if ids is not None:
        return "ids", ids
    return ("date-like" if read_up_to >= like_from and _like_is_exact(query.text) else "date-index"), None


def text_plan(session: Session, query: SearchQuery) -> Plan | None:
    """The plan of query's page on SQLite (page_plan; a page by relevance or every match: the
    index, with the matches when known), or None where no plan applies (no indexed text)."""
    if dialect_of(session) != "sqlite":
        return None
    expression = fts_expression_of(query)
    if expression is None:
        return None
    if query.limit and query.sort != "relevance":
        return page_plan(session, query, expression)
    return "index", known_matches(session, expression)


def _date_column(query: SearchQuery):
    return Article.first_seen_at if query.sort == "first_seen" else Article.published_at


def window_start(session: Session, query: SearchQuery) -> datetime | None:
    """The date of the LIKE_WINDOW-th newest article in query's order; None if there are fewer."""
    dated = _date_column(query)
    return session.execute(select(dated).where(dated.is_not(None)).order_by(dated.desc())
                           .offset(LIKE_WINDOW).limit(1)).scalar()


def matching_select(session: Session, query: SearchQuery, columns: Sequence, *, ordered: bool = True,
              use_index: bool = True, plan: Plan | None = None,
              window: datetime | None = None) -> Select:
    """SELECT columns of the articles matching query (with its order, limit and offset).

    On SQLite a text query is normally answered from the FTS index; a page by date of
    a query that matches many articles is answered by walking the date index instead
    (see _page_plan), and search() first tries LIKE over the newest articles only
    (plan "date-like" with window: those dated at or after it). Every plan returns
    the same rows.
    """
    dialect = dialect_of(session)
    date_page = ordered and query.limit is not None and query.sort != "relevance"
    match = _text_match(query.text, dialect, use_index)
    stmt = select(*columns).join(SourceRow, Article.source_id == SourceRow.id)
    if match.fts_expression is not None:
        if plan is None:
            plan = page_plan(session, query, match.fts_expression) if date_page else ("index", None)
            plan = ("date-index", None) if plan[0] == "date-like" else plan  # LIKE needs search()'s window
        plan, ids = plan
        ranked = ordered and query.sort == "relevance"
        if ids is not None and plan in ("ids", "index") and not ranked:
            stmt = stmt.where(Article.id.in_(_id_set(ids)))
        elif plan == "date-like":
            match = _text_match(query.text, dialect, use_index=False)
            if window is not None:
                stmt = stmt.where(_date_column(query) >= window)
        elif plan == "date-index":
            stmt = stmt.where(_unindexed(Article.id, dialect).in_(
                _fts_rowids(match.fts_expression) if ids is None else _id_set(ids)))
        elif ranked:
            # FTS5 sorts by its own rank (bm25, title weighted) and the articles are read in that
            # order until the page is full: no sort of every match's row
            ranked = (select(FTS_TABLE.c.rowid.label("article_id"), FTS_RANK.label("rank"))
                      .where(FTS_MATCH_TARGET.op("MATCH")(match.fts_expression), FTS_RANK.op("MATCH")(RANK_FUNCTION))
                      .order_by(FTS_RANK).subquery("ranked"))
            stmt = stmt.join(ranked, ranked.c.article_id == Article.id)
            match.rank = ranked.c.rank
        else:
            stmt = stmt.join(FTS_TABLE, FTS_TABLE.c.rowid == Article.id).where(
                FTS_MATCH_TARGET.op("MATCH")(match.fts_expression))
    stmt = stmt.where(*match.conditions, *_filters(session, query, dialect, date_page=date_page,
                                                   text_first=match.fts_expression is not None))
    if not ordered:
        return stmt
    newest = [Article.published_at.desc().nulls_last(), Article.first_seen_at.desc(), Article.id.desc()]
    if query.sort == "first_seen":
        order = [Article.first_seen_at.desc(), Article.id.desc()]
    elif query.sort == "relevance" and match.rank is not None:
        order = [match.rank.asc()] if dialect == "sqlite" else [match.rank.asc(), *newest]
    else:
        order = newest
    stmt = stmt.order_by(*order).offset(query.offset or None)
    return stmt.limit(query.limit) if query.limit is not None else stmt


def _ranked_rows(session: Session, query: SearchQuery, columns: Sequence, ids: list[int]) -> list:
    """One page by relevance of a text query whose matches are known (ids): scored by
    storage.relevance as FTS5's bm25() would, without bm25()'s second pass over the index.
    Equal scores: the newer stored article first. columns must include Article.id."""
    clauses = [c for c in parse_query(query.text) if c.indexable]
    phrases = [t for c in clauses if not c.negated for t in c.terms]
    if len(clauses) == 1 and len(phrases) == 1:
        phrase_rows = [len(ids)]  # the index's matches are the phrase's rows
    else:
        phrase_rows = [session.execute(select(func.count()).select_from(_fts_rowids(fts5_phrase(p)).subquery()))
                       .scalar_one() for p in phrases]
    every = replace(query, limit=None, offset=0)
    candidates = session.execute(matching_select(session, every, (Article.id, Article.title, Article.text),
                                                 ordered=False, plan=("ids", ids))).all()
    rank = relevance.ranks(session, phrases, phrase_rows, candidates, (TITLE_WEIGHT, TEXT_WEIGHT))
    page = sorted(rank, key=lambda i: (rank[i], -i))[query.offset:query.offset + query.limit]
    rows = {r.id: r for r in session.execute(matching_select(session, every, columns, ordered=False,
                                                             plan=("ids", page)))}
    return [rows[i] for i in page]


def page_rows(session: Session, query: SearchQuery, columns: Sequence, *, use_index: bool = True,
              plan: Plan | None = None) -> list:
    """The rows of columns for one page of query, by the cheapest plan (see page_plan; text_plan
    gives it, or it is worked out here)."""
    if plan is None and use_index and query.limit and query.sort == "relevance" and dialect_of(session) == "sqlite":
        plan = text_plan(session, query)
    if plan and plan[0] == "index" and plan[1] is not None and query.sort == "relevance" and query.limit:
        return _ranked_rows(session, query, columns, plan[1])
    rows = None
    if plan is None and use_index and query.limit and query.sort != "relevance" and dialect_of(session) == "sqlite":
        expression = fts_expression_of(query)
        plan = page_plan(session, query, expression) if expression else None
    if plan and plan[0] == "date-like":  # many matches: look among the newest articles first, by LIKE
        window = window_start(session, query)
        rows = session.execute(matching_select(session, query, columns, plan=plan, window=window)).all()
        if window is not None and len(rows) < query.limit:  # not there (a term of older news)
            plan, rows = ("date-index", None), None
    if rows is None:
        rows = session.execute(matching_select(session, query, columns, use_index=use_index, plan=plan)).all()
    return rows


def _text_only(query: SearchQuery) -> bool:
    """True when query is indexed text and nothing else (no filter, no term too short for the index)."""
    return not (query.events or query.years or query.editions or query.roles or query.sources or query.languages
                or query.since or query.until or query.first_seen_since) \
        and all(c.indexable for c in parse_query(query.text))


def count_matches(session: Session, query: SearchQuery, plan: Plan | None = None) -> int:
    """How many articles match query (its paging ignored); from the plan's known matches when it has them.

    Many matches of indexed text alone are counted from the index without reading an
    article: its matches, less the copies among them (from the copies' own index).
    """
    expression = fts_expression_of(query) if dialect_of(session) == "sqlite" else None
    if plan is None and expression:
        plan = "index", known_matches(session, expression)
    ids = plan[1] if plan else None
    if expression and ids is None and _text_only(query):
        matches = set(session.execute(_fts_rowids(expression)).scalars())
        if not query.all_copies:
            matches.difference_update(session.execute(select(Article.id).where(Article.duplicate_of_id > 0)).scalars())
        return len(matches)
    matching = matching_select(session, query, (Article.id,), ordered=False,
                               plan=("ids", ids) if ids is not None else None).subquery()
    return session.execute(select(func.count()).select_from(matching)).scalar_one()
