"""`expowatch runs` and `expowatch health` over recorded runs (no crawl needed)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from crawler.cli import app
from storage.engine import session_factory
from storage.migrate import upgrade
from storage.models import CrawlRun
from storage.runs import end_run, finish_run, start_run
from storage.store import ensure_source, utcnow

WIDE = {"COLUMNS": "250"}  # rich tables would wrap at 80 columns


def record(session, source: str, status: str, minutes_ago: int, **fields) -> int:
    run_id = start_run(session, ensure_source(session, source))
    finish_run(session, run_id, status=status, **fields)
    started = utcnow() - timedelta(minutes=minutes_ago)
    session.execute(update(CrawlRun).where(CrawlRun.id == run_id)
                    .values(started_at=started, finished_at=started + timedelta(seconds=42)))
    return run_id


@pytest.fixture
def store(db_url):
    upgrade(db_url)
    with session_factory(db_url).begin() as session:
        record(session, "alpha", "ok", 50, articles_new=3, articles_skipped=1, skip_reasons={"js_shell": 1},
               pages_fetched=7)
        record(session, "alpha", "failed", 20, message="source unreachable: no list page could be fetched",
               errors=[{"url": "https://alpha.example/news/", "reason": "HTTP 503", "kind": "discovery"}])
        timed_out = record(session, "beta", "running", 10)
        end_run(session, timed_out, "timeout", "timed out after 600 s: the scheduler ended the crawl (SIGTERM)")
    return db_url


def invoke(*args: str):
    return CliRunner(env=WIDE).invoke(app, list(args))


def test_runs_lists_newest_first_with_counts_reasons_and_messages(store):
    result = invoke("runs", "--db", store, "--format", "json")
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)
    assert [(r["source"], r["status"]) for r in runs] == [("beta", "timeout"), ("alpha", "failed"), ("alpha", "ok")]
    assert runs[2]["articles_new"] == 3 and runs[2]["skip_reasons"] == {"js_shell": 1}
    assert runs[1]["errors"][0]["url"] == "https://alpha.example/news/"
    assert runs[0]["finished_at"] is not None and "timed out after 600 s" in runs[0]["message"]


def test_runs_filters_by_source_and_failure(store):
    runs = json.loads(invoke("runs", "--db", store, "--failed", "--format", "json").stdout)
    assert [r["status"] for r in runs] == ["timeout", "failed"]
    runs = json.loads(invoke("runs", "--db", store, "--failed", "--source", "alpha", "--format", "json").stdout)
    assert [(r["source"], r["status"]) for r in runs] == [("alpha", "failed")]
    assert invoke("runs", "--db", store, "--source", "gamma").stdout.strip() == "no runs recorded for gamma"


def test_runs_table_shows_errors_on_request(store):
    result = invoke("runs", "--db", store, "--source", "alpha", "--errors")
    assert result.exit_code == 0
    assert "js_shell 1" in result.stdout and "source unreachable" in result.stdout
    assert "https://alpha.example/news/: HTTP 503" in result.stdout
    assert "HTTP 503" not in invoke("runs", "--db", store, "--source", "alpha").stdout


SOURCES = """
[[source]]
name = "alpha"
list_pages = ["https://alpha.example/news/"]
article_pattern = "/news/"
schedule = "*/10 * * * *"

[[source]]
name = "beta"
list_pages = ["https://beta.example/news/"]
article_pattern = "/news/"
enabled = false
"""


def test_health_exits_non_zero_when_an_enabled_source_is_unhealthy(store, tmp_path):
    sources = tmp_path / "sources.toml"
    sources.write_text(SOURCES, encoding="utf-8")
    base = ["health", "--db", store, "--sources-file", str(sources)]
    ok = invoke(*base)  # one failure after a success: a warning, not an alarm
    assert ok.exit_code == 0, ok.output
    assert "alpha: warning: last run failed: source unreachable" in ok.stdout
    assert "beta" not in ok.stdout  # disabled sources are not checked unless named
    assert invoke(*base, "--quiet").stdout == ""
    strict = invoke(*base, "--failures", "1", "--quiet")
    assert strict.exit_code == 1
    assert strict.stdout.startswith("alpha: unhealthy: 1 failed run in a row")
    named = json.loads(invoke(*base, "--source", "beta", "--format", "json").stdout)
    assert [(h["source"], h["enabled"], h["consecutive_failures"]) for h in named] == [("beta", False, 1)]
    assert invoke(*base, "--source", "nope").exit_code == 1
