"""Which store a command opens: unusable URLs are one line, and reading never creates a store."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration  # every test runs the command line as a process

READ_COMMANDS = [
    ["search", "foo"],
    ["show", "1"],
    ["export"],
    ["runs"],
    ["health", "--sources-file", "{sources}"],
    ["events", "list"],
]

SOURCES = """
[[source]]
name = "one-site"
homepage = "http://127.0.0.1:9/"
list_pages = ["http://127.0.0.1:9/news/"]
article_pattern = '/news/\\d+\\.html$'
"""


@pytest.mark.parametrize("args", READ_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_reading_a_store_that_does_not_exist_fails_and_creates_nothing(tmp_path, run_cli, args):
    sources = tmp_path / "sources.toml"
    sources.write_text(SOURCES, encoding="utf-8")
    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    proc = run_cli(*[a.format(sources=sources) for a in args], "--db", str(missing))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr == f"expowatch: error: no store at sqlite:///{missing}: nothing has been crawled into it " \
                          "yet (`expowatch crawl` or `expowatch db upgrade` creates it; --db or EXPOWATCH_DB_URL " \
                          "chooses it)\n"
    assert not (tmp_path / "nonexistent").exists()


def test_reading_the_default_store_before_any_crawl_creates_nothing(tmp_path, run_cli):
    proc = run_cli("search", "foo")
    assert proc.returncode == 1 and "no store at sqlite:///" in proc.stderr
    assert not (tmp_path / "xdg").exists()


def test_an_empty_file_is_not_a_store_and_stays_empty(tmp_path, run_cli):
    empty = tmp_path / "empty.db"
    empty.touch()
    proc = run_cli("runs", "--db", str(empty))
    assert proc.returncode == 1 and "no store at" in proc.stderr
    assert empty.stat().st_size == 0


def test_write_commands_still_create_the_store(tmp_path, run_cli):
    target = tmp_path / "new" / "store.db"
    run_cli("db", "upgrade", "--db", str(target), check=True)
    assert target.is_file()
    assert run_cli("runs", "--db", str(target), check=True).stdout.strip() == "no runs recorded"


@pytest.mark.parametrize("url, message", [
    ("mysql://user@localhost/db", "unsupported store URL mysql://user@localhost/db: expowatch stores into SQLite"),
    ("sqlite:///:memory:", "unsupported store URL sqlite:///:memory:: an in-memory SQLite store vanishes"),
    ("sqlite://", "unsupported store URL sqlite://: an in-memory SQLite store vanishes"),
    ("nosuchdb+driver://x/y", "unsupported store URL nosuchdb+driver://x/y"),
    ("postgresql+nosuchdriver://u@127.0.0.1/x", "unknown driver 'postgresql+nosuchdriver'"),
])
@pytest.mark.parametrize("command", [["search", "x"], ["retag"]], ids=" ".join)
def test_a_store_url_that_cannot_work_is_one_line_and_exit_2(run_cli, url, message, command):
    proc = run_cli(*command, "--db", url)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr


def test_db_copy_to_an_unsupported_url(tmp_path, run_cli):
    store = tmp_path / "s.db"
    run_cli("db", "upgrade", "--db", str(store), check=True)
    proc = run_cli("db", "copy", "--db", str(store), "--to", "mysql://u@h/db")
    assert proc.returncode == 2 and proc.stderr.startswith("expowatch: error: --to: unsupported store URL mysql://")


def test_postgresql_without_its_driver_names_the_extra(tmp_path, run_cli):
    """A Python where psycopg is not installed: a package directory that cannot be imported
    stands in front of the real one, as an uninstalled package would be missing."""
    blocker = tmp_path / "site" / "psycopg"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text(
        'raise ModuleNotFoundError("No module named \'psycopg\'", name="psycopg")\n', encoding="utf-8")
    import os

    from conftest import REPO

    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(REPO)])}
    for args in (["search", "x", "--db", "postgresql+psycopg://u@127.0.0.1/x"],
                 ["db", "copy", "--db", str(tmp_path / "s.db"), "--to", "postgresql+psycopg://u@127.0.0.1/x"]):
        if args[0] == "db":
            run_cli("db", "upgrade", "--db", str(tmp_path / "s.db"), check=True)
        proc = run_cli(*args, env=env)
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.count("\n") == 1, proc.stderr
        assert "needs the Python package psycopg, which is not installed; install it with " \
               "pip install 'expowatch[postgres]'" in proc.stderr
