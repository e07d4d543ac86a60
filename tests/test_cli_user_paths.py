"""What a new user runs against the replica web, as real processes: extract and sources check
show the event tags a crawl stores, --set is checked, a dead host is reported once."""

from __future__ import annotations

import json
import socket

import pytest
from sqlalchemy import select

from crawler.replica import ReplicaWeb
from crawler.urls import canonical_url
from storage.engine import session_factory
from storage.models import Article, ArticleEvent, CrawlRun

pytestmark = pytest.mark.integration  # crawls the replica web in subprocesses

SITE = "wic-tianjin"


@pytest.fixture
def replica():
    with ReplicaWeb() as web:
        yield web


@pytest.fixture
def sources_file(replica, tmp_path):
    return replica.write_sources_file(tmp_path / "sources.toml")


def stored_tags(db_url: str) -> dict[str, list[dict]]:
    with session_factory(db_url, for_writing=False)() as session:
        rows = session.execute(select(Article.canonical_url, ArticleEvent).join(ArticleEvent.article)).all()
    tags: dict[str, list[dict]] = {}
    for url, tag in rows:
        tags.setdefault(url, []).append({"event": tag.event, "role": tag.role, "edition": tag.edition,
                                         "year": tag.year, "evidence": tag.evidence})
    return {url: sorted(t, key=lambda d: (d["event"], d["year"] or 0)) for url, t in tags.items()}


def comparable(tags: list[dict]) -> list[dict]:
    keep = ("event", "role", "edition", "year", "evidence")
    return sorted(({k: t[k] for k in keep} for t in tags), key=lambda d: (d["event"], d["year"] or 0))


def test_extract_and_sources_check_show_the_tags_a_crawl_stores(replica, sources_file, sqlite_url, tmp_path, run_cli):
    run_cli("crawl", SITE, "--sources-file", str(sources_file), "--db", sqlite_url, check=True)
    stored = stored_tags(sqlite_url)
    expected = [e for e in replica.expected_articles() if e.site == SITE and e.expected.get("primary_event")]
    page = expected[0]
    assert stored[canonical_url(page.url)], "the crawl tagged the page"

    by_format = run_cli("extract", page.url, "--source", SITE, "--sources-file", str(sources_file),
                        "--format", "json", check=True)
    data = json.loads(by_format.stdout)
    assert comparable(data["events"]) == stored[canonical_url(page.url)]
    primary = [t for t in data["events"] if t["role"] == "primary"]
    assert primary[0]["event"] == page.expected["primary_event"]
    assert primary[0]["year"] == page.expected["year"] and primary[0]["evidence"]
    hidden_alias = run_cli("extract", page.url, "--source", SITE, "--sources-file", str(sources_file), "--json",
                           check=True)
    assert json.loads(hidden_alias.stdout) == data
    assert "--json" not in run_cli("extract", "--help", check=True).stdout

    text = run_cli("extract", page.url, "--source", SITE, "--sources-file", str(sources_file), check=True).stdout
    assert f"event: {page.expected['primary_event']} primary" in text

    check = run_cli("sources", "check", SITE, "--sources-file", str(sources_file), "--limit", "3",
                    "--format", "json", check=True)
    report = json.loads(check.stdout)
    tagged = [a for a in report["articles"] if a["events"]]
    assert tagged, report
    for article in tagged:
        assert comparable(article["events"]) == stored[canonical_url(article["url"])]
    readable = run_cli("sources", "check", SITE, "--sources-file", str(sources_file), "--limit", "3", check=True)
    assert f"events:    {tagged[0]['events'][0]['event']} {tagged[0]['events'][0]['role']}" in readable.stdout


def test_crawl_set_accepts_a_known_setting_and_refuses_bad_ones(replica, sources_file, sqlite_url, run_cli):
    ok = run_cli("crawl", SITE, "--sources-file", str(sources_file), "--db", sqlite_url,
                 "--set", "DOWNLOAD_TIMEOUT=10", "--set", "ROBOTSTXT_OBEY=true")
    assert ok.returncode == 0, ok.stderr
    for pair, message in [
        ("DOWNLOAD_TIMEOUT=abc", "--set DOWNLOAD_TIMEOUT=abc: expected a number (the default is 30)"),
        ("NOT_A_SETTING=1", "--set NOT_A_SETTING=1: unknown setting NOT_A_SETTING;"),
        ("DOWNLOAD_TIMOUT=3", "unknown setting DOWNLOAD_TIMOUT (did you mean DOWNLOAD_TIMEOUT?)"),
        ("ROBOTSTXT_OBEY=maybe", "--set ROBOTSTXT_OBEY=maybe: expected true or false"),
        ("ITEM_PIPELINES=[1]", "expected a JSON object"),
        ("lower=1", "expected NAME=VALUE with an upper-case Scrapy setting name"),
    ]:
        proc = run_cli("crawl", SITE, "--sources-file", str(sources_file), "--db", sqlite_url, "--set", pair)
        assert proc.returncode == 2, (pair, proc.stderr)
        assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
        assert "Unhandled error" not in proc.stderr and "Traceback" not in proc.stderr


def test_crawl_naming_a_source_twice_runs_it_once(replica, sources_file, sqlite_url, run_cli):
    proc = run_cli("crawl", SITE, SITE, "--sources-file", str(sources_file), "--db", sqlite_url)
    assert proc.returncode == 0, proc.stderr
    with session_factory(sqlite_url, for_writing=False)() as session:
        runs = session.scalars(select(CrawlRun.status)).all()
    assert runs == ["ok"]
    assert proc.stderr.count(f"{SITE}: ok:") == 1


@pytest.fixture
def dead_source(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again at once: nothing listens there
    url = f"http://127.0.0.1:{port}/news/"
    path = tmp_path / "dead.toml"
    path.write_text(f'[[source]]\nname = "dead-expo"\nlist_pages = ["{url}"]\narticle_pattern = "/news/"\n'
                    "allow_private_addresses = true\ndownload_delay = 0\n")
    return path, url


def test_a_refused_host_is_one_clear_line_in_check_and_named_once_in_crawl(dead_source, sqlite_url, run_cli):
    path, url = dead_source
    check = run_cli("sources", "check", "dead-expo", "--sources-file", str(path))
    assert check.returncode == 1
    assert check.stderr.count("\n") == 1 and "Traceback" not in check.stderr + check.stdout
    assert check.stderr.startswith("expowatch: error: source dead-expo: check failed:") and url in check.stderr
    assert "refused" in check.stderr
    crawl = run_cli("crawl", "--sources-file", str(path), "--db", sqlite_url)
    assert crawl.returncode == 1
    assert crawl.stderr.count("Connection was refused") == 1, crawl.stderr
    assert crawl.stderr.splitlines() == [
        "dead-expo: failed: 0 new, 0 duplicate, 0 skipped (none), 1 errors, 0 pages fetched",
        next(line for line in crawl.stderr.splitlines() if line.startswith("expowatch: error: source dead-expo:")),
    ]
