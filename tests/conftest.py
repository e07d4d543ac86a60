"""Shared fixtures: a fresh store per test, the replica web, and the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(autouse=True)
def _close_store_connections():
    """Each test ends with no pooled store connections left open."""
    yield
    from storage.engine import dispose_engines

    dispose_engines()


@pytest.fixture(scope="session")
def postgres_server():
    """One real PostgreSQL server for the whole run (fails loudly if it cannot start)."""
    from pgserver import TemporaryPostgres

    server = TemporaryPostgres().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def replica():
    """The replica web on 127.0.0.1, shared by a module's tests (a module may define its own per test)."""
    from crawler.replica import ReplicaWeb

    with ReplicaWeb() as web:
        yield web


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite store file for one test."""
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path: Path) -> str:
    """A fresh store for one test, on each backend: a SQLite file and a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_server").create_database()


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for CLI subprocesses: no user store, sources or events leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPOWATCH_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    env["PYTHONWARNINGS"] = "error::DeprecationWarning"
    return env


@pytest.fixture
def run_cli(cli_env):
    """Run `expowatch ARGS...` as a real process; returns the CompletedProcess."""

    def run(*args: str, timeout: float = 120, check: bool = False, env: dict | None = None):
        proc = subprocess.run(
            [sys.executable, "-m", "crawler.cli", *args],
            capture_output=True, text=True, timeout=timeout, env={**cli_env, **(env or {})},
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"expowatch {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory) -> str:
    """The store `expowatch demo` leaves behind (both rounds crawled), built once: tests only read it."""
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPOWATCH_")}
    env["XDG_DATA_HOME"] = str(db.parent / "xdg")
    proc = subprocess.run([sys.executable, "-m", "crawler.cli", "demo", "--db", str(db)],
                          capture_output=True, text=True, timeout=300, env=env)
    if proc.returncode != 0:
        raise AssertionError(f"expowatch demo failed:\n{proc.stdout}\n{proc.stderr}")
    return f"sqlite:///{db}"


# Fixtures that make a test end-to-end: a CLI process, a real PostgreSQL or Redis server.
END_TO_END_FIXTURES = frozenset({"run_cli", "cli_env", "postgres_server", "redis_server", "redis_url", "demo_store"})


def pytest_collection_modifyitems(config, items):
    """Tests on a CLI process, PostgreSQL or Redis join the `integration` tier (`-m "not integration"` skips them)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        on_postgres = "postgresql" in getattr(getattr(item, "callspec", None), "params", {}).values()
        if on_postgres or fixtures & END_TO_END_FIXTURES:
            item.add_marker(pytest.mark.integration)
