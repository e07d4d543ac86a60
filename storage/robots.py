"""The robots_cache table: each site's robots.txt kept across crawls until it expires.

Functions take a Session; the caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Row, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import RobotsCacheEntry


def load_robots(session: Session, origin: str) -> Row | None:
    """The cached robots.txt of origin (scheme://host[:port]), fresh or not: a row with the
    table's columns (a plain row, not an ORM object: it is handed to the reactor thread)."""
    return session.execute(select(RobotsCacheEntry.__table__).where(RobotsCacheEntry.origin == origin)).first()


def save_robots(session: Session, origin: str, *, status: int, body: bytes, etag: str | None,
                last_modified: str | None, fetched_at: datetime, expires_at: datetime) -> None:
    """Insert or replace the cached robots.txt of origin."""
    values = {"status": status, "body": body, "etag": etag, "last_modified": last_modified,
              "fetched_at": fetched_at, "expires_at": expires_at}
    insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[session.get_bind().dialect.name]
    session.execute(insert(RobotsCacheEntry).values(origin=origin, **values)
                    .on_conflict_do_update(index_elements=["origin"], set_=values))
