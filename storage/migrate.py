"""Schema migrations (Alembic), run from code: `expowatch db upgrade` and on first use."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from storage.engine import get_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and the given store."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision(url: str) -> str | None:
    """The newest migration the code knows."""
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The migration the store is at (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: str) -> str | None:
    """Bring the store at url to the newest schema; returns the revision it is at."""
    engine = get_engine(url)
    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return current_revision(engine)


_current: set[str] = set()  # store URLs found current in this process (a long-lived engine checks once)


def ensure_schema(url: str) -> None:
    """Upgrade the store if it is behind the code (cheap when it is current; once per process and store)."""
    if url in _current:
        return
    engine = get_engine(url)
    if current_revision(engine) != head_revision(url):
        upgrade(url)
    if ":memory:" not in url and url != "sqlite://":  # an in-memory store is new on every connection
        _current.add(url)


def check_writable(url: str) -> None:
    """Raise unless this process can write to the store (a no-op write, rolled back)."""
    engine = get_engine(url)
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            conn.execute(text("UPDATE alembic_version SET version_num = version_num"))
        finally:
            transaction.rollback()
