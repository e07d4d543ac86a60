"""`expowatch search` and `expowatch show` as a person and a script use them (real processes)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from crawler.cli import app

from storage.engine import session_factory
from storage.queries import SearchQuery, search
from test_search import CORPUS, build_store, url_of


@pytest.fixture
def store(sqlite_url):
    return sqlite_url, build_store(sqlite_url)


def invoke(*args: str):
    """Run the CLI in this process (fast, for many small cases); returns click's Result."""
    return CliRunner().invoke(app, list(args))


def test_table_for_people_with_titles_dates_sources_events_and_urls(store, run_cli):
    db, ids = store
    proc = run_cli("search", "智博会 OR Meijiang", "--db", db, "--tz", "Asia/Shanghai", env={"COLUMNS": "250"})
    assert proc.returncode == 0, proc.stderr
    for doc in (CORPUS[0], CORPUS[2]):
        assert doc.title in proc.stdout and url_of(doc) in proc.stdout and doc.source in proc.stdout
        assert doc.tags[0][0] in proc.stdout
    assert "2024-06-20 10:00" in proc.stdout  # 02:00 UTC shown in Beijing time
    assert "1-2 of 2 matching articles" in proc.stderr


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_formats_for_programs_give_the_same_hits_as_the_api(store, run_cli, fmt):
    db, _ = store
    proc = run_cli("search", "expo OR 博览会", "--db", db, "--format", fmt, "--limit", "3", "--sort", "relevance",
                   check=True)
    if fmt == "json":
        rows = json.loads(proc.stdout)
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in proc.stdout.splitlines()]
    else:
        rows = list(csv.DictReader(io.StringIO(proc.stdout, newline="")))
    with session_factory(db, for_writing=False)() as session:
        hits = search(session, SearchQuery("expo OR 博览会", limit=3, sort="relevance"))
    assert [str(r["id"]) for r in rows] == [str(h.id) for h in hits]
    assert [r["title"] for r in rows] == [h.title for h in hits]


@pytest.mark.parametrize("query", ["C++", '"', "who's", "*", "'; DROP TABLE articles; --", '") OR 1=1 --'])
def test_hostile_queries_answer_cleanly(store, query):
    db, _ = store
    result = invoke("search", query, "--db", db, "--format", "jsonl")
    assert result.exit_code == 0 and result.stderr == "", result.output
    for line in result.stdout.splitlines():
        json.loads(line)


@pytest.mark.parametrize("args, message, code", [
    (["--source", "nosuch"], "--source 'nosuch': no such source in the store (known: mirror, wie-org, wire, zh-organiser)", 1),
    (["--since", "last week"], "--since: cannot read the date 'last week'", 2),
    (["--until", "2024-02-30"], "--until: cannot read the date '2024-02-30'", 2),
    (["--tz", "Mars/Olympus"], "--tz 'Mars/Olympus': not a time zone", 2),
    (["--new", "--since-run", "1"], "give one of them", 2),
    (["--name", "x"], "--name names a --new query", 2),
    (["--since-run", "999"], "--since-run: no crawl run 999", 1),
    ([" ".join(f"w{i}" for i in range(100))], "at most 64 are allowed", 2),
])
def test_bad_options_fail_with_one_clear_line(store, args, message, code):
    db, _ = store
    result = invoke("search", *args, "--db", db)
    assert result.exit_code == code, result.output
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.output


HUGE = "9" * 30


@pytest.mark.integration
@pytest.mark.parametrize("command, args, message", [
    ("search", ["--since", "99999999d"], "--since: the date '99999999d' is out of range"),
    ("search", ["--since", "9999-12-31T23:59:59-23:59"], "--since: the date '9999-12-31T23:59:59-23:59' is out of range"),
    ("search", ["--until", "3000000d"], "--until: the date '3000000d' is out of range"),
    ("export", ["--until", "3000000d"], "--until: the date '3000000d' is out of range"),
    ("search", ["--limit", HUGE], "Invalid value for '--limit'"),
    ("search", ["--offset", HUGE], "Invalid value for '--offset'"),
    ("search", ["--year", HUGE], "Invalid value for '--year'"),
    ("search", ["--edition", HUGE], "Invalid value for '--edition'"),
    ("search", ["--since-run", HUGE], "Invalid value for '--since-run'"),
    ("export", ["--limit", HUGE], "Invalid value for '--limit'"),
    ("runs", ["-n", HUGE], "Invalid value for '--limit' / '-n'"),
    ("health", ["--failures", HUGE], "Invalid value for '--failures'"),
])
def test_out_of_range_numbers_and_dates_are_a_usage_error_not_a_traceback(store, run_cli, command, args, message):
    db, _ = store
    proc = run_cli(command, *args, "--db", db)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert proc.stdout == ""


def test_new_shows_each_article_once_per_saved_query(store, run_cli):
    db, ids = store
    first = run_cli("search", "--new", "--name", "daily", "--db", db, "-f", "jsonl", check=True)
    assert len(first.stdout.splitlines()) == len([d for d in CORPUS if not d.copy_of])  # no --limit cut
    again = run_cli("search", "--new", "--name", "daily", "--db", db, "-f", "jsonl", check=True)
    assert again.stdout == ""
    by_filters = run_cli("search", "--new", "--lang", "zh", "--db", db, "-f", "jsonl", check=True)
    assert {json.loads(line)["id"] for line in by_filters.stdout.splitlines()} == {ids["wie-zh"], ids["sce-zh"]}


def test_show_prints_text_events_with_evidence_urls_and_copies(store, run_cli):
    db, ids = store
    proc = run_cli("show", str(ids["wie-en"]), "--db", db, check=True)
    doc = CORPUS[0]
    assert doc.title in proc.stdout and doc.text in proc.stdout
    assert "world-intelligence-expo  primary  edition 8, 2024" in proc.stdout
    assert "title/name: 'world-intelligence-expo'" in proc.stdout  # the evidence
    assert f"#{ids['wie-en-copy']} {url_of(CORPUS[5])} (wire, similarity 0.90)" in proc.stdout
    by_url = run_cli("show", "https://mirror.example/wuzhen-closing", "--db", db, "--format", "json", check=True)
    detail = json.loads(by_url.stdout)
    assert detail["article"]["id"] == ids["wic-wuzhen"]
    assert [u["relation"] for u in detail["article"]["urls"]] == ["original", "exact_copy"]
    missing = run_cli("show", "https://nowhere.example/x", "--db", db)
    assert missing.returncode == 1 and "no article 'https://nowhere.example/x'" in missing.stderr
