"""The http_cache table: ETag / Last-Modified of discovery URLs, for conditional GET.

Functions take a Session; the caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import HttpCacheEntry

URL_BATCH = 500  # stays below SQLite's bound-parameter limit


def load_validators(session: Session, url: str) -> HttpCacheEntry | None:
    """The stored validators of a discovery URL, if any."""
    return session.get(HttpCacheEntry, url)


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
