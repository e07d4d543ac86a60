"""The http_cache table: ETag / Last-Modified of discovery URLs, for conditional GET.

Functions take a Session; the caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import Row, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import HttpCacheEntry

URL_BATCH = 500  # stays below SQLite's bound-parameter limit


def load_validators(session: Session, url: str) -> Row | None:
    """The stored validators of a discovery URL, if any: a row with etag, last_modified and checked_at
    (a plain row, not an ORM object: read once per request, it is handed to other threads)."""
    return session.execute(select(HttpCacheEntry.__table__).where(HttpCacheEntry.url == url)).first()


def validators_of(session: Session, urls: Iterable[str]) -> dict[str, Row]:
    """The stored validators of each of urls that has them (url -> row as load_validators gives it)."""
    urls = list(urls)
    found: dict[str, Row] = {}
    for start in range(0, len(urls), URL_BATCH):
        rows = session.execute(select(HttpCacheEntry.__table__)
                               .where(HttpCacheEntry.url.in_(urls[start:start + URL_BATCH])))
        found.update({row.url: row for row in rows})
    return found


def save_validators(session: Session, entries: dict[str, dict[str, Any]]) -> None:
    """Insert or replace rows: url -> {etag, last_modified, checked_at}.

    A value without etag/last_modified keys (a 304) only moves checked_at.
    """
    dialect = session.get_bind().dialect.name
    insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
    for url, values in entries.items():
        row = {"etag": None, "last_modified": None, **values}
        stmt = insert(HttpCacheEntry).values(url=url, **row)
        session.execute(stmt.on_conflict_do_update(index_elements=["url"], set_=values))


def checked_at(session: Session, urls: Iterable[str]) -> dict[str, datetime]:
    """When each URL was last fetched and its validators saved."""
    urls = list(urls)
    found: dict[str, datetime] = {}
    for start in range(0, len(urls), URL_BATCH):
        rows = session.execute(select(HttpCacheEntry.url, HttpCacheEntry.checked_at)
                               .where(HttpCacheEntry.url.in_(urls[start:start + URL_BATCH])))
        found.update({url: when for url, when in rows})
    return found
