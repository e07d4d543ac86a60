"""Shared fixtures: a fresh store per test, the replica web, and the CLI in a subprocess."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config):
    """A run started in the background by a shell without job control (`pytest &`, nohup) starts with
    SIGINT ignored, and every process a test starts would inherit that: the Ctrl-C tests would hang."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


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
    """The store `expowatch demo` leaves behind (both rounds crawled), built once for the whole run
    (the first xdist worker to ask builds it, the others wait for it): tests only read it."""
    from filelock import FileLock

    # under xdist each worker has its own basetemp; their parent is shared by the run
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    db, done = shared / "demo" / "demo.db", shared / "demo" / "built"
    with FileLock(str(shared / "demo.lock")):
        if not done.exists():
            db.parent.mkdir(exist_ok=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith("EXPOWATCH_")}
            env["XDG_DATA_HOME"] = str(db.parent / "xdg")
            proc = subprocess.run([sys.executable, "-m", "crawler.cli", "demo", "--db", str(db)],
                                  capture_output=True, text=True, timeout=300, env=env)
            if proc.returncode != 0:
                raise AssertionError(f"expowatch demo failed:\n{proc.stdout}\n{proc.stderr}")
            done.touch()
    return f"sqlite:///{db}"


# Fixtures that make a test end-to-end: a CLI process, a real PostgreSQL or Redis server.
END_TO_END_FIXTURES = frozenset({"run_cli", "cli_env", "postgres_server", "redis_server", "redis_url", "demo_store"})


def pytest_collection_modifyitems(config, items):
    """Tests on a CLI process, PostgreSQL or Redis join the `integration` tier (`-m "not integration"` skips them).

    Modules with end-to-end tests run first, so that on pytest-xdist's workers the quick unit tests
    fill the last minutes instead of a long crawl starting at the end.
    """
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        on_postgres = "postgresql" in getattr(getattr(item, "callspec", None), "params", {}).values()
        if on_postgres or fixtures & END_TO_END_FIXTURES:
            item.add_marker(pytest.mark.integration)
    end_to_end = {item.module for item in items if item.get_closest_marker("integration")}
    items.sort(key=lambda item: item.module not in end_to_end)  # stable: a module's tests stay together


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist (`-n`, set in pyproject.toml): a module with a module-scoped fixture (a crawl, a
    served store) runs on one worker, so that fixture is built once; every other test goes to
    whichever worker is free. (xdist's own `--dist loadgroup` marks do not reach pytest 9's node ids.)"""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedModuleFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if has_module_fixture(config.rootpath / module) else nodeid

    return SharedModuleFixtureScheduling(config, log)


@functools.cache
def has_module_fixture(path: Path) -> bool:
    """Whether a test module defines a fixture set up once per module."""
    return path.suffix == ".py" and 'scope="module"' in path.read_text(encoding="utf-8")
