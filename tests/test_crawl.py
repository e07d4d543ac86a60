"""End to end: `expowatch crawl` on the replica web into a fresh store (issue 3's walking skeleton)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from datetime import datetime

import pytest
from sqlalchemy import func, select

from crawler.replica import ReplicaWeb
from crawler.urls import canonical_url
from storage.engine import session_factory
from storage.models import Article, ArticleUrl, CrawlRun, SourceRow
from waiting import wait_until

pytestmark = pytest.mark.integration

SITE = "wic-tianjin"  # list pages with pagination plus an RSS feed


@pytest.fixture
def replica():
    with ReplicaWeb() as web:
        yield web


@pytest.fixture
def sources_file(replica, tmp_path):
    return replica.write_sources_file(tmp_path / "sources.toml")


def stored(db_url: str, source: str) -> dict[str, Article]:
    with session_factory(db_url)() as session:
        rows = session.scalars(
            select(Article).join(SourceRow, Article.source_id == SourceRow.id).where(SourceRow.name == source)
        ).all()
    return {a.canonical_url: a for a in rows}


def expected_for(replica, site: str):
    return [e for e in replica.expected_articles() if e.site == site]


def test_crawl_stores_every_article_once_with_title_date_and_clean_text(replica, sources_file, db_url, run_cli):
    proc = run_cli("crawl", SITE, "--sources-file", str(sources_file), "--db", db_url)
    assert proc.returncode == 0, proc.stderr
    articles = stored(db_url, SITE)
    expected = expected_for(replica, SITE)
    assert set(articles) == {canonical_url(e.url) for e in expected}
    for e in expected:
        article = articles[canonical_url(e.url)]
        assert article.title == e.expected["title"]
        assert article.published_at == datetime.fromisoformat(e.expected["published"])
        for snippet in e.expected["must_contain"]:
            assert snippet in article.text
        for boilerplate in e.expected["must_not_contain"]:
            assert boilerplate not in article.text


def test_second_crawl_fetches_no_article_page_and_stores_nothing_new(replica, sources_file, db_url, run_cli):
    run_cli("crawl", SITE, "--sources-file", str(sources_file), "--db", db_url, check=True)
    before = len(stored(db_url, SITE))
    replica.reset_counts()
    proc = run_cli("crawl", SITE, "--sources-file", str(sources_file), "--db", db_url, check=True)
    counts = replica.request_counts()
    assert counts[(SITE, "article")] == 0
    assert counts[(SITE, "list")] >= 1
    assert len(stored(db_url, SITE)) == before
    assert "0 new" in proc.stderr


def test_killed_crawl_reruns_to_every_article_exactly_once(replica, sources_file, db_url, cli_env):
    # one article a second: the first stored article is seen long before the last is fetched
    slow = sources_file.read_text().replace("download_delay = 0\n", "download_delay = 1\n")
    sources_file.write_text(slow)
    args = [sys.executable, "-m", "crawler.cli", "crawl", SITE, "--sources-file", str(sources_file), "--db", db_url]
    from storage.migrate import upgrade

    upgrade(db_url)
    crawl = subprocess.Popen(args, env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: stored(db_url, SITE), "the first stored article (then the crawl is killed)",
               alive=lambda: crawl.poll() is None)
    crawl.send_signal(signal.SIGKILL)
    crawl.wait()
    assert 0 < len(stored(db_url, SITE)) < len(expected_for(replica, SITE))

    rerun = subprocess.run(args, env=cli_env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    expected = {canonical_url(e.url) for e in expected_for(replica, SITE)}
    assert set(stored(db_url, SITE)) == expected
    with session_factory(db_url)() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == len(expected)
        originals = session.scalar(select(func.count()).select_from(ArticleUrl).where(ArticleUrl.relation == "original"))
        assert originals == len(expected)
        statuses = session.scalars(select(CrawlRun.status).order_by(CrawlRun.id)).all()
    assert statuses == ["failed", "ok"]  # the killed run is recorded as interrupted


def test_unreachable_source_exits_non_zero_naming_source_url_and_reason(tmp_path, db_url, run_cli):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again at once: nothing listens there
    url = f"http://127.0.0.1:{port}/news/"
    path = tmp_path / "dead.toml"
    path.write_text(f'[[source]]\nname = "dead-expo"\nlist_pages = ["{url}"]\narticle_pattern = "/news/"\n'
                    "allow_private_addresses = true\ndownload_delay = 0\n")
    proc = run_cli("crawl", "--sources-file", str(path), "--db", db_url)
    assert proc.returncode == 1
    error_line = next(line for line in proc.stderr.splitlines() if line.startswith("expowatch: error:"))
    assert "dead-expo" in error_line and url in error_line and "refused" in error_line.lower()
    assert "Traceback" not in proc.stderr


def test_extract_prints_the_fields_the_pipeline_stores(replica, sources_file, tmp_path, run_cli):
    page = expected_for(replica, SITE)[0]
    saved = tmp_path / "page.html"
    saved.write_bytes(page.render())
    proc = run_cli("extract", str(saved), "--url", page.url, "--source", SITE,
                   "--sources-file", str(sources_file), "--json", check=True)
    data = json.loads(proc.stdout)
    assert data["url"] == page.url
    assert data["title"] == page.expected["title"]
    assert datetime.fromisoformat(data["published_at"]) == datetime.fromisoformat(page.expected["published"])
    assert data["language"] == page.expected["language"]
    assert all(snippet in data["text"] for snippet in page.expected["must_contain"])


@pytest.mark.parametrize("last_run_finished", [True, False], ids=["after-ok-run", "after-killed-run"])
def test_a_crawl_after_an_unfinished_run_pages_to_the_end(replica, sources_file, db_url, run_cli, last_run_finished):
    """A killed run may have stored page 1 and never reached page 2: the next run must page on."""
    site = "technews"  # list pages only: 3 pages
    first_page_only = sources_file.parent / "first-page.toml"
    first_page_only.write_text(sources_file.read_text().replace("[[source]]\n", "[[source]]\nmax_pages = 1\n"))
    run_cli("crawl", site, "--sources-file", str(first_page_only), "--db", db_url, check=True)
    page_one = set(stored(db_url, site))
    expected = {canonical_url(e.url) for e in expected_for(replica, site)}
    assert page_one and page_one < expected
    if not last_run_finished:
        from storage.runs import start_run
        from storage.store import ensure_source

        with session_factory(db_url).begin() as session:  # what a crawl killed mid-way leaves behind
            start_run(session, ensure_source(session, site))
    run_cli("crawl", site, "--sources-file", str(sources_file), "--db", db_url, check=True)
    if last_run_finished:
        assert set(stored(db_url, site)) == page_one  # incremental: page 1 had nothing new, so stop
    else:
        assert set(stored(db_url, site)) == expected  # resumed: every older page read again
