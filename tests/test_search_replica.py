"""Search over a store filled by a real crawl of the replica web (English and Chinese sites)."""

from __future__ import annotations

import json
import re

import pytest

from crawler.replica import ReplicaWeb
from crawler.urls import canonical_url
from storage.engine import session_factory
from storage.queries import SearchQuery, count, search

pytestmark = pytest.mark.integration

SITES = ("zh-organiser", "prwire")  # Chinese organiser pages and an English wire
CJK_PAIR = re.compile(r"[\u4e00-\u9fff]{2}")


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    """One crawl of the replica sites into a SQLite store, shared by the tests here (they only read)."""
    import os
    import subprocess
    import sys

    tmp = tmp_path_factory.mktemp("replica-search")
    db_url = f"sqlite:///{tmp / 'store.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPOWATCH_")}
    with ReplicaWeb() as web:
        sources = web.write_sources_file(tmp / "sources.toml")
        proc = subprocess.run([sys.executable, "-m", "crawler.cli", "crawl", *SITES, "--sources-file", str(sources),
                               "--db", db_url], capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, proc.stderr
        expected = [e for e in web.expected_articles() if e.site in SITES]
    return db_url, expected


def found(db_url: str, text: str) -> set[str]:
    with session_factory(db_url, for_writing=False)() as session:
        return {h.url for h in search(session, SearchQuery(text, all_copies=True, limit=None))}


def test_every_crawled_article_is_found_by_its_title(crawled):
    db_url, expected = crawled
    assert {e.expected["language"] for e in expected} == {"en", "zh"}
    for e in expected:
        assert canonical_url(e.url) in found(db_url, f'"{e.expected["title"]}"'), e.url


def test_two_character_chinese_words_find_their_articles(crawled):
    db_url, expected = crawled
    chinese = [e for e in expected if e.expected["language"] == "zh"]
    assert chinese
    for e in chinese:
        word = CJK_PAIR.search(e.expected["title"]).group()
        assert canonical_url(e.url) in found(db_url, word), (word, e.url)


def test_english_words_find_their_articles_and_exclusion_removes_them(crawled):
    db_url, expected = crawled
    english = [e for e in expected if e.expected["language"] == "en"]
    for e in english:
        word = max(re.findall(r"[A-Za-z]{4,}", e.expected["title"]), key=len)
        assert canonical_url(e.url) in found(db_url, word)
        assert canonical_url(e.url) not in found(db_url, f"{word} -{word}")


def test_cli_search_and_export_over_the_crawled_store(crawled, run_cli):
    db_url, expected = crawled
    proc = run_cli("search", "智能 OR intelligent", "--db", db_url, "--all-copies", "--limit", "100",
                   "--format", "json", check=True)
    hits = json.loads(proc.stdout)
    assert {h["url"] for h in hits} == found(db_url, "智能 OR intelligent")
    export = run_cli("export", "--db", db_url, "--all-copies", check=True)
    with session_factory(db_url, for_writing=False)() as session:
        assert len(export.stdout.splitlines()) == count(session, SearchQuery(all_copies=True))
