"""`expowatch export`: every field round-trips through JSONL and CSV, cells are formula-safe, memory stays flat."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from datetime import datetime, timezone

import pytest

from crawler.extract.extraction import ExtractedArticle
from crawler.replica.catalog import body_text, load_catalog
from crawler.replica.synthetic import generate_entries
from storage.dedup import content_hash
from storage.engine import session_factory
from storage.exports import decoders_for, read_csv
from storage.migrate import upgrade
from storage.queries import FullArticle, SearchQuery, iter_articles
from storage.store import ArticleRecord, ensure_source, store_article
from test_search import CORPUS, Doc, build_store, utc

TRICKY = CORPUS + (
    Doc("formulas", "wire", "=HYPERLINK(\"http://evil.example\",\"click\")",
        "-5 points for the home team\r\nline two, with \"quotes\", commas;\ttabs\n@mention\n+86 电话\n\n结尾",
        "en", utc(2023, 1, 2, 3, 4, 5)),
    Doc("quotes", "zh-organiser", "'=already quoted'", "'+leading quote and plus\n🙂 emoji 和中文", "zh",
        utc(2023, 1, 3)),
)


def exported(db_url: str) -> list[dict]:
    with session_factory(db_url, for_writing=False)() as session:
        return [a.to_dict() for a in iter_articles(session, SearchQuery(limit=None, all_copies=True))]


@pytest.fixture
def store(db_url):
    build_store(db_url, TRICKY)
    return db_url


@pytest.fixture
def sqlite_store(sqlite_url):
    """For the command-line tests: the backend makes no difference to writing files."""
    build_store(sqlite_url, TRICKY)
    return sqlite_url


def test_every_field_is_exported(store):
    records = exported(store)
    assert len(records) == len(TRICKY)
    full = {r["title"]: r for r in records}
    copy = full[CORPUS[5].title]
    assert copy["duplicate_of_id"] == full[CORPUS[0].title]["id"] and copy["similarity"] == 0.9
    tags = full[CORPUS[0].title]["events"]
    assert [(t["event"], t["role"], t["edition"], t["year"]) for t in tags] == [t[:4] for t in CORPUS[0].tags]
    assert tags[0]["evidence"][0]["match"] == "world-intelligence-expo"
    wuzhen = full[CORPUS[4].title]
    assert [(u["source"], u["relation"]) for u in wuzhen["urls"]] == [("wire", "original"), ("mirror", "exact_copy")]
    assert full[TRICKY[-2].title]["text"] == TRICKY[-2].text  # \r\n kept as stored


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_file_round_trips_every_field(sqlite_store, run_cli, tmp_path, fmt):
    out = tmp_path / f"articles.{fmt}"
    run_cli("export", "--all-copies", "--db", sqlite_store, "--format", fmt, "-o", str(out), check=True)
    if fmt == "jsonl":
        with out.open(encoding="utf-8") as f:
            back = [json.loads(line) for line in f]
    else:
        with out.open(encoding="utf-8", newline="") as f:
            back = list(read_csv(f, decoders_for(FullArticle)))
    assert back == exported(sqlite_store)
    assert not (tmp_path / f"articles.{fmt}.part").exists()


def test_csv_cells_cannot_start_a_formula(sqlite_store, run_cli, tmp_path):
    out = tmp_path / "articles.csv"
    run_cli("export", "--db", sqlite_store, "--format", "csv", "-o", str(out), check=True)
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'=HYPERLINK(\"http://evil.example\",\"click\")" in cells
    assert any(c.startswith("'-5 points") for c in cells) and "''=already quoted'" in cells


def test_export_applies_the_search_filters(sqlite_store, run_cli):
    proc = run_cli("export", "Meijiang OR 智博", "--db", sqlite_store, "--lang", "zh", check=True)
    assert [json.loads(line)["title"] for line in proc.stdout.splitlines()] == [CORPUS[2].title]


def test_export_to_an_unwritable_place_fails_clearly_and_leaves_nothing(sqlite_store, run_cli, tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "out.jsonl"
    proc = run_cli("export", "--db", sqlite_store, "-o", str(target))
    assert proc.returncode == 1 and proc.stderr.startswith(f"expowatch: error: cannot write {target}")
    assert not target.parent.exists()


MEMORY_PROBE = textwrap.dedent("""
    import io, json, sys, tracemalloc
    from storage.engine import session_factory
    from storage.exports import write_jsonl
    from storage.queries import SearchQuery, iter_articles

    class Sink(io.TextIOBase):
        def write(self, s):
            return len(s)

    def peak(limit, batch=int(sys.argv[2])):
        with session_factory(sys.argv[1], for_writing=False)() as session:
            tracemalloc.start()
            articles = iter_articles(session, SearchQuery(limit=limit), batch_size=batch)
            rows = write_jsonl((a.to_dict() for a in articles), Sink())
            _, top = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        return rows, top

    two_batches = 2 * int(sys.argv[2])
    peak(two_batches), peak(None)  # warm up: imports, compiled statements of both shapes
    print(json.dumps([peak(two_batches), peak(None)]))
""")
MEMORY_ARTICLES = 800
MEMORY_BATCH = 80  # ten batches: an export that held the whole result would need several times the memory


def test_export_of_a_large_store_keeps_memory_flat(sqlite_url):
    """Peak Python memory exporting all articles is about that of exporting two batches of them.

    Measured with tracemalloc in a fresh process, after a warm-up run of each export. (On
    PostgreSQL the same code reads through a server-side cursor: the next test.)
    """
    db_url = sqlite_url
    upgrade(db_url)
    specs, _ = load_catalog()
    with session_factory(db_url).begin() as session:
        sources = {name: ensure_source(session, name) for name in specs}
        for entry in generate_entries(specs, MEMORY_ARTICLES):
            text = body_text(entry)
            url = f"https://{entry.site}.example{entry.path}"
            article = ExtractedArticle(url=url, title=entry.title, text=text, extractor_version="test",
                                       published_at=entry.published.astimezone(timezone.utc),
                                       language=specs[entry.site].language)
            store_article(session, ArticleRecord(source_id=sources[entry.site], canonical_url=url, seen_urls=(),
                                                 article=article, content_hash=content_hash(text)),
                          now=datetime.now(timezone.utc))
    probe = subprocess.run([sys.executable, "-c", MEMORY_PROBE, db_url, str(MEMORY_BATCH)],
                           capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr
    (some_rows, some_peak), (all_rows, all_peak) = json.loads(probe.stdout)
    assert (some_rows, all_rows) == (2 * MEMORY_BATCH, MEMORY_ARTICLES)
    assert all_peak < 1.6 * some_peak, (some_peak, all_peak)


def test_postgresql_export_reads_through_a_server_side_cursor(postgres_server):
    """On PostgreSQL the rows stay on the server until fetched (a named cursor), not in the client."""
    from sqlalchemy import text

    db_url = postgres_server.create_database()
    build_store(db_url)
    with session_factory(db_url, for_writing=False)() as session:
        articles = iter_articles(session, SearchQuery(limit=None), batch_size=2)
        next(articles)
        open_cursors = session.execute(text("SELECT count(*) FROM pg_cursors")).scalar_one()
        rest = list(articles)
    assert open_cursors == 1
    assert len(rest) == len([d for d in CORPUS if not d.copy_of]) - 1
