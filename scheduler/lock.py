"""One scheduler per store: a lock held for the life of `expowatch schedule`.

One interface, one mechanism per backend: a SQLite store is locked with an exclusive
flock on a file beside the database; a PostgreSQL store with a session-level advisory
lock. Both are released by the operating system or the server when the process dies,
so a crashed service never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import socket
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

LOCK_SUFFIX = ".scheduler.lock"
# Advisory lock key: a fixed 32-bit number derived from a name, so every expowatch
# scheduler on one PostgreSQL database asks for the same lock.
ADVISORY_KEY = zlib.crc32(b"expowatch.scheduler")


class SchedulerLockError(RuntimeError):
    """The scheduler cannot lock this store; the message says why."""


class SchedulerLockedError(SchedulerLockError):
    """Another scheduler holds the store; the message says which and where."""


class SchedulerLock(Protocol):
    """Held while a scheduler runs on a store."""

    def acquire(self) -> None:
        """Take the lock or raise SchedulerLockedError at once (never wait)."""

    def release(self) -> None:
        """Give the lock back (idempotent)."""


def _holder_note() -> str:
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return f"pid {os.getpid()} on {socket.gethostname()} since {started}"


class FileLock:
    """An exclusive, non-blocking flock on a file; the file records who holds it."""

    def __init__(self, path: Path, what: str):
        self.path = path
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise SchedulerLockedError(
                f"another expowatch scheduler is already running on {self.what} ({holder}; lock file {self.path})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, _holder_note().encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


class AdvisoryLock:
    """A PostgreSQL session advisory lock held on a dedicated connection."""

    def __init__(self, url: str, what: str):
        self.url = url
        self.what = what
        self._conn: Connection | None = None

    def acquire(self) -> None:
        from storage.engine import get_engine

        conn = get_engine(self.url).connect()
        got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}).scalar()
        conn.commit()
        if not got:
            conn.close()
            raise SchedulerLockedError(
                f"another expowatch scheduler is already running on {self.what} "
                f"(PostgreSQL advisory lock {ADVISORY_KEY} is held)"
            )
        self._conn = conn

    def release(self) -> None:
        if self._conn is None:
            return
        self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
        self._conn.commit()
        self._conn.close()
        self._conn = None


def scheduler_lock(url: str) -> SchedulerLock:
    """The lock for the store at url (a file beside a SQLite database, an advisory lock on PostgreSQL)."""
    parsed = make_url(url)
    what = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise SchedulerLockError(f"the scheduler needs a database file or server, not an in-memory store ({what})")
        return FileLock(Path(parsed.database + LOCK_SUFFIX), what)
    if backend == "postgresql":
        return AdvisoryLock(url, what)
    raise SchedulerLockError(f"no scheduler lock for {backend} stores ({what}); use SQLite or PostgreSQL")
