"""Engine and session setup: where the store is and how connections are configured."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

DB_ENV = "EXPOWATCH_DB_URL"
SQLITE_BUSY_TIMEOUT_MS = 30_000  # writers wait up to 30 s for a lock instead of failing at once


def default_db_path() -> Path:
    """The documented default store: $XDG_DATA_HOME/expowatch/expowatch.db."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "expowatch" / "expowatch.db"


def resolve_db_url(db: str | None = None) -> str:
    """--db, else EXPOWATCH_DB_URL, else the default SQLite file. A bare path means SQLite."""
    url = db or os.environ.get(DB_ENV) or f"sqlite:///{default_db_path()}"
    if "://" not in url:
        url = f"sqlite:///{Path(url).expanduser().resolve()}"
    return url


class StoreURLError(ValueError):
    """A store URL this program cannot use; missing_extra names the pip extra that would help."""

    def __init__(self, message: str, missing_extra: str | None = None) -> None:
        super().__init__(message)
        self.missing_extra = missing_extra


SUPPORTED_BACKENDS = ("sqlite", "postgresql")
BACKEND_EXTRAS = {"postgresql": "postgres"}  # the pip extra that installs each backend's driver


def check_store_url(url: str) -> None:
    """Raise StoreURLError unless url names a store this program can open.

    A store outlives the command, so SQLite must be a file (not :memory:); only SQLite
    and PostgreSQL are supported; the URL's driver must be importable.
    """
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreURLError(f"{url!r} is not a store URL: use a file path, sqlite:///PATH or "
                            "postgresql+psycopg://user@host/db") from None
    shown = url if parsed.password is None else parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise StoreURLError(f"unsupported store URL {shown}: expowatch stores into SQLite (a file path or "
                            "sqlite:///PATH) or PostgreSQL (postgresql+psycopg://user@host/db)")
    if backend == "sqlite" and (not parsed.database or parsed.database == ":memory:"
                                or parsed.query.get("mode") == "memory"):
        raise StoreURLError(f"unsupported store URL {shown}: an in-memory SQLite store vanishes when the "
                            "command ends; give a file (a path or sqlite:///PATH)")
    try:
        parsed.get_dialect().import_dbapi()
    except NoSuchModuleError:
        raise StoreURLError(f"unsupported store URL {shown}: unknown driver {parsed.drivername!r} "
                            "(use postgresql+psycopg://)") from None
    except ImportError as exc:
        extra = BACKEND_EXTRAS.get(backend)
        hint = (f"; install it with pip install 'expowatch[{extra}]' and use postgresql+psycopg://"
                if extra else "")
        raise StoreURLError(f"the store URL {shown} needs the Python package "
                            f"{exc.name or parsed.get_driver_name()}, which is not installed{hint}",
                            missing_extra=extra) from None


def store_exists(url: str) -> bool:
    """Whether a store (an expowatch schema) is already at url; creates nothing."""
    from sqlalchemy import inspect

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database).is_file():
        return False
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return inspect(conn).has_table("alembic_version")
    finally:
        engine.dispose()


def _configure_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, *, for_writing: bool = True) -> Engine:
    """An engine for the store URL; SQLite gets WAL, a busy timeout and foreign keys.

    On SQLite a writing engine opens every transaction with BEGIN IMMEDIATE (the write
    lock up front, waiting up to the busy timeout) so that concurrent writers queue
    instead of failing on a lock upgrade; a reading engine uses plain deferred BEGIN,
    which in WAL mode never blocks writers.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "isolation_level": None},
        )
        event.listen(engine, "connect", _configure_sqlite)
        # pysqlite's own transaction handling is off (isolation_level=None), so emit BEGIN
        # ourselves: IMMEDIATE takes the write lock up front and avoids deadlocked upgrades.
        begin = "BEGIN IMMEDIATE" if for_writing else "BEGIN"
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(begin))
        return engine
    return create_engine(url, pool_pre_ping=True)


def _configure_sqlite_read_only(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def make_read_only_engine(url: str) -> Engine:
    """An engine that cannot change the store, whatever SQL it is given.

    SQLite: the file is opened with `mode=ro` (an URI filename) and `query_only` on, and
    it must exist (nothing is created). PostgreSQL: every transaction is READ ONLY
    (`default_transaction_read_only`). Used by `expowatch serve`.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if not path or path == ":memory:" or path.startswith("file:"):
            raise ValueError(f"{url}: a read-only store must be a SQLite file path")
        if not Path(path).is_file():
            raise FileNotFoundError(f"no store at {path}")
        uri = parsed.set(database=f"file:{Path(path).resolve().as_posix()}?mode=ro", query={"uri": "true"})
        engine = create_engine(uri, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "isolation_level": None,
                                                  "check_same_thread": False})
        event.listen(engine, "connect", _configure_sqlite_read_only)
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        return engine
    options = "-c default_transaction_read_only=on"
    return create_engine(url, pool_pre_ping=True, connect_args={"options": options})


def read_only_session_factory(url: str) -> sessionmaker:
    """A sessionmaker over make_read_only_engine(url) (a new engine: dispose it with .kw['bind'])."""
    return sessionmaker(make_read_only_engine(url), expire_on_commit=False)


_engines: dict[tuple[str, bool], Engine] = {}


def get_engine(url: str, *, for_writing: bool = True) -> Engine:
    """One engine per URL and mode per process."""
    key = (url, for_writing)
    if key not in _engines:
        _engines[key] = make_engine(url, for_writing=for_writing)
    return _engines[key]


def dispose_engines() -> None:
    """Close every pooled connection this process holds (tests, forks, shutdown)."""
    while _engines:
        _engines.popitem()[1].dispose()


def session_factory(url: str, *, for_writing: bool = True) -> sessionmaker:
    """A sessionmaker bound to the store at url (callers own the transaction)."""
    return sessionmaker(get_engine(url, for_writing=for_writing), expire_on_commit=False)
