"""Incremental crawling on the replica web, counted on the servers.

One sequence of crawls over the six replica sites serves every test here:
first crawl -> unchanged re-crawl -> publish a round -> crawl -> --backfill crawl.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from crawler.replica import ReplicaWeb
from crawler.urls import canonical_url
from spiders.sources import load_sources_file
from test_discovery_sites import expowatch

pytestmark = pytest.mark.integration

DISCOVERY = ("feed", "sitemap", "list")


@dataclass
class Crawl:
    """One crawl as the servers and the store saw it."""

    returncode: int
    output: str
    log: list[tuple]  # ReplicaWeb.request_log rows: (time, site, method, path, kind, status, headers)
    articles: set[str]  # canonical URLs of stored articles
    known: set[str]  # every URL the store knows (article URLs and skipped pages)

    def requests(self, kind: str) -> list[tuple]:
        return [row for row in self.log if row[4] == kind]

    def discovery_paths(self) -> Counter:
        return Counter((row[1], row[3]) for row in self.log if row[4] in DISCOVERY)


def store_state(db: Path) -> tuple[set[str], set[str]]:
    with sqlite3.connect(db) as conn:
        articles = {r[0] for r in conn.execute("SELECT canonical_url FROM articles")}
        known = {r[0] for r in conn.execute("SELECT url FROM article_urls UNION SELECT url FROM skipped_pages")}
    return articles, known


@pytest.fixture(scope="module")
def replica_crawls(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("incremental")
    db = tmp / "store.db"
    with ReplicaWeb() as web:
        sources = web.write_sources_file(tmp / "sources.toml")
        crawls: dict[str, Crawl] = {}

        def crawl(step: str, *extra: str) -> None:
            web.reset_counts()
            proc = expowatch(tmp, "crawl", "--sources-file", str(sources), "--db", str(db), *extra)
            crawls[step] = Crawl(proc.returncode, proc.stdout + proc.stderr, list(web.request_log), *store_state(db))

        crawl("first")
        expected_first = web.expected_articles()
        non_articles = web.expected_non_articles()
        crawl("unchanged")
        published = web.publish_next_round()
        crawl("after_new")
        crawl("backfill", "--backfill")
        yield {"crawls": crawls, "expected_first": expected_first, "non_articles": non_articles,
               "published": published, "sources": load_sources_file(sources), "web": web}


def test_first_crawl_stores_every_article(replica_crawls):
    first = replica_crawls["crawls"]["first"]
    assert first.returncode == 0, first.output
    expected = replica_crawls["expected_first"]
    assert {canonical_url(e.url) for e in expected} <= first.known
    stories = {e.expected.get("duplicate_group") or e.url for e in expected}
    assert len(stories) <= len(first.articles) <= len(expected)  # an exact copy is an alias of its story
    # the JS shell and the dead link are remembered as skipped, so they are not fetched again
    assert {canonical_url(e.url) for e in replica_crawls["non_articles"]} <= first.known


def test_unchanged_recrawl_fetches_only_first_discovery_pages_once(replica_crawls):
    again = replica_crawls["crawls"]["unchanged"]
    assert again.returncode == 0, again.output
    assert again.requests("article") == []
    assert max(again.discovery_paths().values()) == 1
    first_pages = {url for s in replica_crawls["sources"] for url in s.discovery_urls}
    web = replica_crawls["web"]
    asked = {web.sites[site].base_url + path for site, path in again.discovery_paths()}
    assert asked == first_pages  # no second list page, no child sitemap
    assert {row[5] for row in again.log if row[4] in DISCOVERY} == {304}  # conditional GET: nothing to parse
    first = replica_crawls["crawls"]["first"]
    assert len(again.log) < len(first.log) / 3


def test_after_a_round_only_the_new_articles_are_fetched_and_stored(replica_crawls):
    crawls = replica_crawls["crawls"]
    before, after = crawls["unchanged"], crawls["after_new"]
    published = {canonical_url(url) for url in replica_crawls["published"]}
    assert after.returncode == 0, after.output
    assert after.articles - before.articles == published
    assert len(after.requests("article")) <= len(published)


def test_backfill_pages_to_the_end_without_refetching_articles(replica_crawls):
    crawls = replica_crawls["crawls"]
    backfill = crawls["backfill"]
    assert backfill.returncode == 0, backfill.output
    assert backfill.requests("article") == []
    list_pages = {(row[1], row[3]) for row in crawls["first"].requests("list")}
    assert {(row[1], row[3]) for row in backfill.requests("list")} >= list_pages
    assert len(backfill.requests("list")) > len(crawls["after_new"].requests("list"))
    assert not any("If-None-Match" in row[6] for row in backfill.log)
