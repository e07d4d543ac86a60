"""On the replica web: every syndicated copy lands in its story's cluster, distinct stories never share one."""

from __future__ import annotations

from itertools import combinations

import pytest
from sqlalchemy import func, select

from crawler.replica import SITE_NAMES, ReplicaWeb
from crawler.urls import canonical_url
from storage.duplicates import copies_of
from storage.engine import session_factory
from storage.models import Article, ArticleUrl, MinhashBand

pytestmark = pytest.mark.integration


@pytest.fixture
def replica():
    with ReplicaWeb() as web:
        while web.publish_next_round():
            pass
        yield web


def crawl(run_cli, replica, tmp_path, db_url) -> None:
    sources = replica.write_sources_file(tmp_path / "sources.toml")
    run_cli("crawl", *SITE_NAMES, "--backfill", "--sources-file", str(sources), "--db", db_url, check=True)


def stories(db_url: str, urls: list[str]) -> dict[str, int]:
    """The story (canonical article id) each URL was stored under."""
    with session_factory(db_url)() as s:
        rows = s.execute(
            select(ArticleUrl.url, func.coalesce(Article.duplicate_of_id, Article.id))
            .join(Article, Article.id == ArticleUrl.article_id)
            .where(ArticleUrl.url.in_(urls))
        ).all()
    return dict(rows)


def pair_scores(groups: dict[str, str | None], story: dict[str, int]) -> tuple[float, float]:
    """Precision and recall of 'same story' over every pair of URLs."""
    true_pos = false_pos = false_neg = 0
    for a, b in combinations(sorted(groups), 2):
        expected = groups[a] is not None and groups[a] == groups[b]
        found = story[a] == story[b]
        true_pos += expected and found
        false_pos += found and not expected
        false_neg += expected and not found
    return true_pos / ((true_pos + false_pos) or 1), true_pos / ((true_pos + false_neg) or 1)


def test_replica_duplicate_groups_are_found_exactly_and_a_rerun_adds_no_copy(replica, tmp_path, sqlite_url, run_cli):
    crawl(run_cli, replica, tmp_path, sqlite_url)
    expected = {canonical_url(e.url): e.expected["duplicate_group"] for e in replica.expected_articles()}
    groups = {url: group for url, group in expected.items() if group is not None}
    assert len(set(groups.values())) >= 3 and len(groups) > len(set(groups.values()))
    story = stories(sqlite_url, list(expected))
    assert set(groups) <= set(story), f"copies not stored: {sorted(set(groups) - set(story))}"
    stored = {url: group for url, group in expected.items() if url in story}
    assert pair_scores(stored, story) == (1.0, 1.0)

    with session_factory(sqlite_url)() as s:
        a_copy = next(url for url in groups if story[url] != s.scalar(
            select(ArticleUrl.article_id).where(ArticleUrl.url == url)))
        listed = copies_of(s, story[a_copy])
        before = [s.scalar(select(func.count()).select_from(m)) for m in (Article, ArticleUrl, MinhashBand)]
    same_group = {url for url, g in groups.items() if g == groups[a_copy]}
    assert same_group <= {c.url for c in listed}
    assert {c.relation for c in listed if c.url in same_group} <= {"original", "near_copy", "exact_copy"}

    crawl(run_cli, replica, tmp_path, sqlite_url)
    with session_factory(sqlite_url)() as s:
        after = [s.scalar(select(func.count()).select_from(m)) for m in (Article, ArticleUrl, MinhashBand)]
    assert after == before
