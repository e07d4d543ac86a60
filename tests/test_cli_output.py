"""What listings print: whole values in a pipe, nothing cut on a terminal, json/jsonl/csv everywhere."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import subprocess
import sys

import pytest
from sqlalchemy import select
from test_search import Doc, build_store, utc

from storage.engine import session_factory
from storage.models import CrawlRun, SourceRow

pytestmark = pytest.mark.integration  # runs the command line as a process

ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


def run_on_terminal(cli_env, *args: str, columns: int = 80) -> str:
    """stdout of `expowatch ARGS` written to a pseudo-terminal COLUMNS wide, colours removed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "crawler.cli", *args], stdout=slave, stderr=subprocess.PIPE,
                            env={**cli_env, "COLUMNS": str(columns), "TERM": "xterm"})
    os.close(slave)
    out = b""
    while True:  # ends when the child closes the terminal (EIO)
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(master)
    assert proc.returncode in (0, 1), proc.stderr.read()
    proc.stderr.close()
    return ANSI.sub("", out.decode("utf-8")).replace("\r\n", "\n")


def demo_facts(db_url: str) -> tuple[list[str], list[str]]:
    """The demo store's source names and article URLs."""
    from storage.models import Article

    with session_factory(db_url, for_writing=False)() as session:
        sources = session.scalars(select(SourceRow.name).join(CrawlRun, CrawlRun.source_id == SourceRow.id)
                                  .distinct()).all()
        urls = session.scalars(select(Article.canonical_url)).all()
    return sorted(sources), urls


LONG_SLUG = "world-intelligent-manufacturing-conference"


def test_in_a_pipe_runs_events_and_search_print_every_value_whole(demo_store, run_cli):
    sources, urls = demo_facts(demo_store)
    runs = run_cli("runs", "--db", demo_store, check=True).stdout
    assert runs.splitlines()[0].split()[:4] == ["run", "source", "started", "(UTC)"]
    assert "…" not in runs and "─" not in runs  # plain text, not a drawn table
    for source in sources:
        assert re.search(rf"^\s*\d+\s+{re.escape(source)}\s", runs, re.M), source
    events = run_cli("events", "list", "--db", demo_store, check=True).stdout
    assert "…" not in events and re.search(rf"^{LONG_SLUG}\s", events, re.M)
    assert "World Intelligent Manufacturing Conference 世界智能制造大会" in events
    found = run_cli("search", "智能", "--db", demo_store, "--limit", "50", check=True).stdout
    assert "…" not in found
    lines = found.splitlines()[1:]
    assert lines and all(re.search(r"http://127\.0\.0\.1:\d+/\S+$", line) for line in lines)
    assert all(line.split()[-1] in urls for line in lines)  # whole URLs, as stored
    assert any(re.search(r"2024世界智能产业博览会：智能产业为天津注入新质生产力", line) for line in lines)


def test_on_a_narrow_terminal_slugs_sources_and_urls_are_never_cut(demo_store, cli_env):
    sources, urls = demo_facts(demo_store)
    found = run_on_terminal(cli_env, "search", "Expo", "--db", demo_store, "--limit", "30", columns=60)
    assert "…" not in found and "┃ id" in found
    shown_urls = re.findall(r"http://127\.0\.0\.1:\d+/\S+?(?= *│)", found)
    assert shown_urls and set(shown_urls) <= set(urls)
    assert LONG_SLUG in run_on_terminal(cli_env, "events", "list", "--db", demo_store, columns=60)
    runs = run_on_terminal(cli_env, "runs", "--db", demo_store, columns=60)
    assert "…" not in runs and all(source in runs for source in sources)


@pytest.mark.parametrize("command", [["runs"], ["events", "list"], ["sources", "list"], ["health"], ["search"]],
                         ids=" ".join)
@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_every_listing_speaks_json_jsonl_and_csv(demo_store, tmp_path, run_cli, command, fmt):
    from crawler.replica import ReplicaWeb

    extra = []
    if command[0] in ("sources", "health"):
        with ReplicaWeb() as web:
            extra = ["--sources-file", str(web.write_sources_file(tmp_path / "replica.toml"))]
    if command[0] != "sources":
        extra += ["--db", demo_store]
    proc = run_cli(*command, *extra, "--format", fmt)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr  # health: 1 when unhealthy
    if fmt == "json":
        rows = json.loads(proc.stdout)
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in proc.stdout.splitlines()]
    else:
        rows = list(csv.DictReader(io.StringIO(proc.stdout, newline="")))
    assert len(rows) >= 5, proc.stdout
    key = {"runs": "source", "events": "slug", "sources": "name", "health": "source", "search": "url"}[command[0]]
    assert all(row[key] for row in rows)


def test_search_shows_an_event_once_when_tagged_with_and_without_a_year(sqlite_url, run_cli):
    doc = Doc("sce", "cq", "Smart China Expo opens", "The expo opened in Chongqing with robots on show.", "en",
              utc(2019, 8, 26), (("smart-china-expo", "primary", 2, 2019), ("smart-china-expo", "mentioned", None, None)))
    build_store(sqlite_url, (doc,))
    rows = json.loads(run_cli("search", "--db", sqlite_url, "-f", "json", check=True).stdout)
    assert rows[0]["events"] == ["smart-china-expo"]
    table = run_cli("search", "--db", sqlite_url, check=True).stdout
    assert table.count("smart-china-expo") == 1


def test_counts_read_as_english(sqlite_url, run_cli):
    doc = Doc("one", "cq", "Smart China Expo opens", "The expo opened in Chongqing.", "en", utc(2019, 8, 26))
    build_store(sqlite_url, (doc,))
    assert run_cli("search", "nothing-matches-this", "--db", sqlite_url, check=True).stderr == "no matching articles\n"
    assert run_cli("search", "--db", sqlite_url, check=True).stderr == "1-1 of 1 matching article\n"
    past = run_cli("search", "--db", sqlite_url, "--offset", "5", check=True).stderr
    assert past == "none of 1 matching article past --offset 5\n"


def test_runs_shows_durations_under_a_second_in_tenths(demo_store, run_cli):
    rows = json.loads(run_cli("runs", "--db", demo_store, "-f", "json", check=True).stdout)
    table = run_cli("runs", "--db", demo_store, check=True).stdout.splitlines()[1:]
    for row, line in zip(rows, table):
        secs = line.split()[4]
        expected = row["duration_seconds"]
        assert secs == (f"{expected:.1f}" if expected < 10 else f"{expected:.0f}")
        assert expected > 0
