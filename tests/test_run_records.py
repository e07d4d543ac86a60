"""storage/runs.py: recording crawl runs and reading them back (the judgement of a run included)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage.engine import session_factory
from storage.migrate import upgrade
from storage.runs import (
    INTERRUPTED,
    RUNNING,
    fail_running_runs,
    finish_run,
    get_run,
    judge_run,
    newest_runs,
    previous_run_unfinished,
    start_run,
)
from storage.store import ensure_source, utcnow


@pytest.fixture
def db(sqlite_url):
    upgrade(sqlite_url)
    return session_factory(sqlite_url)


def test_a_new_run_of_a_source_closes_the_one_a_killed_crawl_left_running(db):
    with db.begin() as session:
        source_id = ensure_source(session, "alpha")
        killed = start_run(session, source_id)
        fresh = start_run(session, source_id)
    with db() as session:
        assert (get_run(session, killed).status, get_run(session, killed).message) == ("failed", INTERRUPTED)
        assert get_run(session, fresh).status == RUNNING


def test_newest_runs_gives_each_sources_latest_run_since_a_time(db):
    since = utcnow() - timedelta(seconds=1)
    with db.begin() as session:
        alpha, beta = ensure_source(session, "alpha"), ensure_source(session, "beta")
        finish_run(session, start_run(session, alpha), status="failed")
        latest = start_run(session, alpha)
        finish_run(session, latest, status="ok", articles_new=3)
        start_run(session, beta)
    with db() as session:
        newest = newest_runs(session, ["alpha", "beta", "gamma"], since=since)
        assert set(newest) == {"alpha", "beta"}
        assert (newest["alpha"].id, newest["alpha"].status, newest["alpha"].articles_new) == (latest, "ok", 3)
        assert newest_runs(session, ["alpha"], since=utcnow() + timedelta(minutes=1)) == {}


def test_failing_running_runs_leaves_finished_ones_alone(db):
    with db.begin() as session:
        source_id = ensure_source(session, "alpha")
        done = start_run(session, source_id)
        finish_run(session, done, status="ok")
        held = start_run(session, ensure_source(session, "beta"))
        fail_running_runs(session, [done, held], "interrupted: worker w1 stopped sending heartbeats")
    with db() as session:
        assert get_run(session, done).status == "ok"
        assert get_run(session, held).status == "failed" and get_run(session, held).finished_at is not None


def test_a_source_whose_last_run_did_not_end_ok_is_unfinished(db):
    with db.begin() as session:
        source_id = ensure_source(session, "alpha")
        assert not previous_run_unfinished(session, "alpha")  # never crawled
        finish_run(session, start_run(session, source_id), status="ok")
        assert not previous_run_unfinished(session, "alpha")
        current = start_run(session, source_id)
        assert not previous_run_unfinished(session, "alpha", exclude_run_id=current)
        assert previous_run_unfinished(session, "alpha")  # the running one itself counts when not excluded


@pytest.mark.parametrize(("facts", "verdict"), [
    ({"discovery_ok": 0, "discovery_failed": 2, "articles_done": 0, "article_errors": 0}, "failed"),
    ({"discovery_ok": 1, "discovery_failed": 0, "articles_done": 0, "article_errors": 3}, "failed"),
    ({"discovery_ok": 1, "discovery_failed": 1, "articles_done": 4, "article_errors": 1}, "ok"),
])
def test_judge_run(facts, verdict):
    assert judge_run(close_reason="finished", **facts)[0] == verdict
    if verdict == "ok":
        assert judge_run(close_reason="shutdown", **facts) == ("partial", "crawl stopped early (shutdown)")
