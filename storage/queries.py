"""Reading the store: the Python API behind `expowatch search`, `show` and `export`.

    from storage.engine import session_factory
    from storage.queries import SearchQuery, search

    with session_factory(url, for_writing=False)() as session:
        for hit in search(session, SearchQuery("机器人 OR robot", events=("smart-china-expo",))):
            print(hit.published_at, hit.title, hit.url)

Text search (see storage.query_syntax for the syntax) uses the FTS5 trigram index
on SQLite and pg_trgm indexes on PostgreSQL (migration 0002); terms shorter than a
trigram fall back to LIKE. The SQL is built in storage.search_sql. By default a search returns one row per story: articles
that are copies of another (duplicate_of_id set) are left out.
"""

from __future__ import annotations

import hashlib
import re
import typing
from dataclasses import dataclass, field, fields, is_dataclass, make_dataclass, replace
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any, Iterable, Iterator, Literal, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage import search_sql
from storage.models import Article, ArticleEvent, ArticleUrl, CrawlRun, SavedQuery, SourceRow

Sort = Literal["published", "first_seen", "relevance"]
DateField = Literal["published", "first_seen"]
SORTS: tuple[str, ...] = ("published", "first_seen", "relevance")
DATE_FIELDS: tuple[str, ...] = ("published", "first_seen")
ROLES: tuple[str, ...] = ("primary", "mentioned")

DEFAULT_LIMIT = 20  # one screen of results
EXPORT_BATCH = 500  # rows fetched per round trip when streaming: big enough to be fast, small to stay flat
ID_BATCH = 500  # ids per IN (...) list: far below SQLite's bound-parameter limit
SAVED_QUERY_NAME_MAX = 200  # saved_queries.name is VARCHAR(200)
MAX_ROW_ID = 2**63 - 1  # the largest 64-bit row id; a bigger number cannot name an article


@dataclass(frozen=True)
class SearchQuery:
    """What to look for: text (search syntax) and filters, all of which must hold.

    events/years/editions/roles select articles tagged with a matching article_events
    row (all given conditions on the same row); several values of one filter mean any
    of them. sources: a story matches when it, any URL of it or (one row per story)
    any copy of it came from one of the sources. since/until (tz-aware, until
    exclusive) apply to date_field; an undated article counts by when it was first
    seen. first_seen_since: only articles first stored at or after this instant
    (what `--new` uses). limit None: no limit.
    """

    text: str = ""
    events: tuple[str, ...] = ()
    years: tuple[int, ...] = ()
    editions: tuple[int, ...] = ()
    roles: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    date_field: DateField = "published"
    first_seen_since: datetime | None = None
    all_copies: bool = False
    sort: Sort = "published"
    limit: int | None = DEFAULT_LIMIT
    offset: int = 0

    def __post_init__(self) -> None:
        for name, allowed in (("sort", SORTS), ("date_field", DATE_FIELDS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"SearchQuery.{name}={getattr(self, name)!r}: expected one of {', '.join(allowed)}")
        bad_roles = set(self.roles) - set(ROLES)
        if bad_roles:
            raise ValueError(f"SearchQuery.roles: unknown role {sorted(bad_roles)[0]!r}; expected {', '.join(ROLES)}")
        for name in ("since", "until", "first_seen_since"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"SearchQuery.{name}={value!r} is naive: give a tz-aware datetime")
        if (self.limit is not None and self.limit < 0) or self.offset < 0:
            raise ValueError("SearchQuery.limit and offset must not be negative")


_JSON_SCALARS = (str, int, float, type(None))


@lru_cache(maxsize=None)
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _jsonable(value: Any) -> Any:
    if isinstance(value, _JSON_SCALARS):  # most values: checked first, exports convert millions
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if is_dataclass(value):
        return {name: _jsonable(getattr(value, name)) for name in _field_names(type(value))}
    return value


class _Record:
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: datetimes as ISO 8601 (UTC offset), tuples as lists."""
        return _jsonable(self)


@dataclass(frozen=True)
class ArticleHit(_Record):
    """One article as a search returns it; events are slugs, primary ones first."""

    id: int
    title: str | None
    url: str
    source: str
    published_at: datetime | None
    language: str | None
    first_seen_at: datetime
    events: tuple[str, ...] = ()
    duplicate_of_id: int | None = None


@dataclass(frozen=True)
class StoredTag(_Record):
    """An article_events row: which event, primary or mentioned, edition/year, why (and which tagger)."""

    event: str
    role: str
    edition: int | None
    year: int | None
    confidence: float
    evidence: list
    tagger_version: str


@dataclass(frozen=True)
class SeenUrl(_Record):
    """An article_urls row: a URL the article was seen at, from which source, how related."""

    url: str
    source: str
    relation: str
    first_seen_at: datetime


# Every column of articles but the MinHash, in the model's order, as export writes them: the
# canonical URL as `url`, the source by name. A column added to the model is exported too.
_COLUMN_TYPES = {name: typing.get_args(hint)[0] for name, hint in typing.get_type_hints(Article).items()}
_EXPORTED_AS = {"canonical_url": ("url", str, Article.canonical_url),
                "source_id": ("source", str, SourceRow.name.label("source"))}
_FULL = [_EXPORTED_AS.get(column.key, (column.key, _COLUMN_TYPES[column.key], getattr(Article, column.key)))
         for column in Article.__table__.columns if column.key != "minhash"]
FULL_SELECT = tuple(selected for *_, selected in _FULL)  # rows become FullArticle(*row)

FullArticle = make_dataclass(
    "FullArticle",
    [(name, kind) for name, kind, _ in _FULL]
    + [("events", tuple[StoredTag, ...], field(default=())), ("urls", tuple[SeenUrl, ...], field(default=()))],
    bases=(_Record,), frozen=True, namespace={"__doc__": "Every stored field of an article (not the MinHash or "
                                                         "raw HTML), as export writes it, with its tags and URLs."},
)


EXPORT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(FullArticle))
HIT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ArticleHit))


@dataclass(frozen=True)
class ArticleRef(_Record):
    """A short reference to another article (a copy, or the original of a copy)."""

    id: int
    url: str
    source: str
    title: str | None
    similarity: float | None
    first_seen_at: datetime


@dataclass(frozen=True)
class ArticleDetail(_Record):
    """One article with everything `expowatch show` prints."""

    article: FullArticle
    copies: tuple[ArticleRef, ...] = ()  # articles whose duplicate_of_id is this one
    original: ArticleRef | None = None  # the article this one is a copy of


# --- dates -------------------------------------------------------------------------------

RELATIVE_AGE = re.compile(r"^(\d+)\s*(m|min|h|d|w)$", re.IGNORECASE)
RELATIVE_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(value: str, *, tz: tzinfo = timezone.utc, end: bool = False,
               now: datetime | None = None) -> datetime:
    """A tz-aware instant from a command-line date.

    Accepts a relative age (`30m`, `12h`, `7d`, `2w`: that long before now), `today`,
    `yesterday`, a date (`2024-06-20`) or an ISO 8601 date-time. A date or date-time
    without an offset is read in tz (UTC unless given). end=True reads a bare date as
    the end of that day (the start of the next), so `--until 2024-06-20` includes it.
    Raises ValueError naming the value.
    """
    text = value.strip()
    now = now or datetime.now(timezone.utc)
    try:
        return _parse_when(text, value, tz, end, now)
    except OverflowError:
        raise ValueError(f"the date {value!r} is out of range (years 1 to 9999)") from None


def _parse_when(text: str, value: str, tz: tzinfo, end: bool, now: datetime) -> datetime:
    age = RELATIVE_AGE.match(text)
    if age:
        return now - timedelta(**{RELATIVE_UNITS[age.group(2).lower()]: int(age.group(1))})
    try:
        if text.lower() in ("today", "yesterday"):
            day = now.astimezone(tz).date() - timedelta(days=text.lower() == "yesterday")
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text)
        else:
            instant = datetime.fromisoformat(text)
            instant = instant if instant.tzinfo else instant.replace(tzinfo=tz)
            instant.astimezone(timezone.utc)  # raises OverflowError when UTC would leave year 9999
            return instant
    except ValueError:
        raise ValueError(f"cannot read the date {value!r}: use YYYY-MM-DD, an ISO 8601 date-time "
                         f"(2024-06-20T09:00+08:00) or an age such as 30m, 12h, 7d, 2w") from None
    instant = datetime.combine(day + timedelta(days=int(end)), time(), tz)
    instant.astimezone(timezone.utc)
    return instant


class BadSearchOption(ValueError):
    """A search option (text, filter, date, zone, paging) that cannot be used; names the option."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
        self.message = message


def time_zone(name: str) -> tzinfo:
    """The zone called name (an IANA name, or UTC/Z); ValueError naming it otherwise."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if name.upper() in ("UTC", "Z"):
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r}: not a time zone (use an IANA name such as Asia/Shanghai, or UTC)") from None


def query_from_options(*, text: str | None = None, events: Iterable[str] = (), years: Iterable[int] = (),
                       editions: Iterable[int] = (), roles: Iterable[str] = (), sources: Iterable[str] = (),
                       languages: Iterable[str] = (), since: str | None = None, until: str | None = None,
                       date_field: str = "published", tz: tzinfo = timezone.utc, all_copies: bool = False,
                       sort: str = "published", limit: int | None = DEFAULT_LIMIT, offset: int = 0,
                       now: datetime | None = None) -> SearchQuery:
    """A SearchQuery from the options as people type them (the CLI's and the web view's).

    since/until are read by parse_when in tz (until: a bare date includes that day).
    Raises BadSearchOption naming the option (text, since, until, sort, ...).
    """
    from storage.query_syntax import QueryTooLong, parse_query

    try:
        parse_query(text)
    except QueryTooLong as exc:
        raise BadSearchOption("text", str(exc)) from None
    when = {}
    for option, value, end in (("since", since, False), ("until", until, True)):
        if value is not None and value.strip():
            try:
                when[option] = parse_when(value, tz=tz, end=end, now=now)
            except ValueError as exc:
                raise BadSearchOption(option, str(exc)) from None
    options = {"sort": sort, "date_field": date_field}
    for option, allowed in (("sort", SORTS), ("date_field", DATE_FIELDS)):
        if options[option] not in allowed:
            raise BadSearchOption(option, f"{options[option]!r}: expected one of {', '.join(allowed)}")
    bad_roles = sorted(set(roles) - set(ROLES))
    if bad_roles:
        raise BadSearchOption("role", f"{bad_roles[0]!r}: expected one of {', '.join(ROLES)}")
    if limit is not None and limit < 0:
        raise BadSearchOption("limit", f"{limit}: must not be negative")
    if offset < 0:
        raise BadSearchOption("offset", f"{offset}: must not be negative")
    return SearchQuery(text=text or "", events=tuple(events), years=tuple(years), editions=tuple(editions),
                       roles=tuple(roles), sources=tuple(sources), languages=tuple(languages),
                       date_field=date_field, all_copies=all_copies, sort=sort, limit=limit, offset=offset,
                       **when)


# --- searching -----------------------------------------------------------------------------

HIT_SELECT = (Article.id, Article.title, Article.canonical_url, SourceRow.name.label("source"),
              Article.published_at, Article.language, Article.first_seen_at, Article.duplicate_of_id)


def _batches(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), ID_BATCH):
        yield ids[start:start + ID_BATCH]


def _event_slugs(session: Session, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {}
    for batch in _batches(ids):
        rows = session.execute(
            select(ArticleEvent.article_id, ArticleEvent.event).where(ArticleEvent.article_id.in_(batch))
            .order_by(ArticleEvent.article_id, (ArticleEvent.role != "primary"), ArticleEvent.event))
        for article_id, event in rows:
            found.setdefault(article_id, []).append(event)
    return {k: tuple(dict.fromkeys(v)) for k, v in found.items()}  # one slug per event, whatever its years


def search(session: Session, query: SearchQuery, *, use_index: bool = True) -> list[ArticleHit]:
    """The articles matching query, sorted, one page (query.limit / query.offset).

    use_index=False scans every title and text with LIKE instead of using the full-text
    index: the same answer, slowly (the baseline of benchmarks/search.py).
    """
    return _hits(session, search_sql.page_rows(session, query, HIT_SELECT, use_index=use_index))


def _hits(session: Session, rows: Sequence) -> list[ArticleHit]:
    events = _event_slugs(session, [r.id for r in rows])
    return [ArticleHit(id=r.id, title=r.title, url=r.canonical_url, source=r.source,
                       published_at=r.published_at, language=r.language, first_seen_at=r.first_seen_at,
                       events=events.get(r.id, ()), duplicate_of_id=r.duplicate_of_id)
            for r in rows]


def count(session: Session, query: SearchQuery) -> int:
    """How many articles match query, ignoring limit and offset."""
    return search_sql.count_matches(session, query)


def search_and_count(session: Session, query: SearchQuery) -> tuple[list[ArticleHit], int]:
    """search() and count() of query, reading the text index once for both (and not counting
    at all on a last page: its total is its offset and length)."""
    plan = search_sql.text_plan(session, query)
    hits = _hits(session, search_sql.page_rows(session, query, HIT_SELECT, plan=plan))
    if hits and (query.limit is None or len(hits) < query.limit):
        return hits, query.offset + len(hits)
    return hits, search_sql.count_matches(session, query, plan)


def search_articles(session: Session, query: str | None = None, *, limit: int = DEFAULT_LIMIT) -> list[ArticleHit]:
    """Articles matching the search text, newest first (shorthand for search())."""
    return search(session, SearchQuery(text=query or "", limit=limit))


# --- streaming every field -----------------------------------------------------------------

def _event_tags(session: Session, ids: Sequence[int]) -> dict[int, list[StoredTag]]:
    found: dict[int, list[StoredTag]] = {}
    for batch in _batches(ids):
        rows = session.execute(
            select(ArticleEvent.article_id, ArticleEvent.event, ArticleEvent.role, ArticleEvent.edition,
                   ArticleEvent.year, ArticleEvent.confidence, ArticleEvent.evidence, ArticleEvent.tagger_version)
            .where(ArticleEvent.article_id.in_(batch))
            .order_by(ArticleEvent.article_id, ArticleEvent.role != "primary", ArticleEvent.event))
        for article_id, *tag in rows:
            found.setdefault(article_id, []).append(StoredTag(*tag))
    return found


def _seen_urls(session: Session, ids: Sequence[int]) -> dict[int, list[SeenUrl]]:
    found: dict[int, list[SeenUrl]] = {}
    for batch in _batches(ids):
        rows = session.execute(
            select(ArticleUrl.article_id, ArticleUrl.url, SourceRow.name, ArticleUrl.relation, ArticleUrl.first_seen_at)
            .join(SourceRow, ArticleUrl.source_id == SourceRow.id)
            .where(ArticleUrl.article_id.in_(batch)).order_by(ArticleUrl.article_id, ArticleUrl.id))
        for article_id, url, source, relation, first_seen_at in rows:
            found.setdefault(article_id, []).append(SeenUrl(url, source, relation, first_seen_at))
    return found


def _full_articles(session: Session, rows: Sequence) -> list[FullArticle]:
    ids = [r.id for r in rows]
    events, urls = _event_tags(session, ids), _seen_urls(session, ids)
    return [FullArticle(*r, events=tuple(events.get(r.id, ())), urls=tuple(urls.get(r.id, ()))) for r in rows]


def iter_articles(session: Session, query: SearchQuery, *, batch_size: int = EXPORT_BATCH) -> Iterator[FullArticle]:
    """Every field of the articles matching query, streamed in constant memory.

    Rows come from a server-side cursor (PostgreSQL) or SQLite's lazy cursor,
    batch_size at a time; events and URLs are fetched per batch.
    """
    result = session.execute(search_sql.matching_select(session, query, FULL_SELECT), execution_options={"yield_per": batch_size})
    for rows in result.partitions():
        yield from _full_articles(session, rows)


# --- one article ---------------------------------------------------------------------------


def _ref_select():
    return (select(Article.id, Article.canonical_url, SourceRow.name, Article.title, Article.similarity,
                   Article.first_seen_at)
            .join(SourceRow, Article.source_id == SourceRow.id))


def get_article(session: Session, key: int | str) -> ArticleDetail | None:
    """An article by id, canonical URL or any URL it was seen at; None when not stored."""
    if isinstance(key, str) and key.strip().isdigit():
        key = int(key.strip())
    if isinstance(key, int):
        if not 0 < key <= MAX_ROW_ID:
            return None
        article_id = key
    else:
        article_id = session.execute(select(ArticleUrl.article_id).where(ArticleUrl.url == key)).scalar() \
            or session.execute(select(Article.id).where(Article.canonical_url == key)).scalar()
    rows = session.execute(select(*FULL_SELECT).join(SourceRow, Article.source_id == SourceRow.id)
                           .where(Article.id == article_id)).all()
    if not rows:
        return None
    article = _full_articles(session, rows)[0]
    copies = tuple(ArticleRef(*r) for r in session.execute(
        _ref_select().where(Article.duplicate_of_id == article.id).order_by(Article.first_seen_at, Article.id)))
    original = None
    if article.duplicate_of_id is not None:
        row = session.execute(_ref_select().where(Article.id == article.duplicate_of_id)).first()
        original = ArticleRef(*row) if row else None
    return ArticleDetail(article, copies, original)


# --- what's new ----------------------------------------------------------------------------


def saved_query_name(query: SearchQuery) -> str:
    """A stable name for a query's text and filters (not its order or paging), for --new."""
    parts = [query.text.strip()]
    for name in ("events", "years", "editions", "roles", "sources", "languages"):
        values = getattr(query, name)
        if values:
            parts.append(f"{name}={','.join(str(v) for v in sorted(values))}")
    for name in ("since", "until"):
        value = getattr(query, name)
        if value is not None:
            parts.append(f"{name}={value.astimezone(timezone.utc).isoformat()}")
    if query.date_field != "published":
        parts.append(f"date_field={query.date_field}")
    if query.all_copies:
        parts.append("all_copies")
    name = " | ".join(parts)
    if len(name) > SAVED_QUERY_NAME_MAX:
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        name = f"{name[:SAVED_QUERY_NAME_MAX - len(digest) - 3]}.. {digest}"
    return name


def last_run_at(session: Session, name: str) -> datetime | None:
    """When the saved query called name last ran (None: never)."""
    return session.execute(select(SavedQuery.last_run_at).where(SavedQuery.name == name)).scalar()


def search_new(session: Session, query: SearchQuery, name: str | None = None,
               *, now: datetime | None = None) -> list[ArticleHit]:
    """Articles matching query first seen since the saved query `name` last ran; records this run.

    name defaults to saved_query_name(query). The first run returns every match. The
    caller commits (use a writing session). A run is marked with the time it started,
    so an article stored while it runs is shown next time; only a write that began
    before the run and committed after it read can be missed (writes are one article
    per short transaction).
    """
    name = name or saved_query_name(query)
    now = now or datetime.now(timezone.utc)
    hits = search(session, replace(query, first_seen_since=last_run_at(session, name)))
    mark_run(session, name, now)
    return hits


def mark_run(session: Session, name: str, at: datetime) -> None:
    """Remember that the saved query called name ran at `at` (insert or update)."""
    from storage.store import insert_or_ignore

    if insert_or_ignore(session, SavedQuery.__table__, {"name": name, "last_run_at": at}) is None:
        session.execute(update(SavedQuery).where(SavedQuery.name == name).values(last_run_at=at))


def run_started_at(session: Session, run_id: int) -> datetime:
    """When crawl run run_id started; LookupError if there is no such run."""
    started = session.execute(select(CrawlRun.started_at).where(CrawlRun.id == run_id)).scalar()
    if started is None:
        raise LookupError(f"no crawl run {run_id} in the store (see `expowatch runs`)")
    return started


def unknown_sources(session: Session, names: Iterable[str]) -> list[str]:
    """The names among names that are not sources in the store."""
    names = list(dict.fromkeys(names))
    known = set(session.execute(select(SourceRow.name).where(SourceRow.name.in_(names))).scalars())
    return [n for n in names if n not in known]


def source_names(session: Session) -> list[str]:
    """Every source name in the store, sorted."""
    return list(session.execute(select(SourceRow.name).order_by(SourceRow.name)).scalars())
