"""The SQLite store opens as it is in sqlite-utils (and so Datasette, which finds FTS tables the same way)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from test_search import CORPUS, build_store

sqlite_utils = pytest.importorskip("sqlite_utils")


@pytest.fixture
def store_file(sqlite_url) -> Path:
    build_store(sqlite_url)
    return Path(sqlite_url.removeprefix("sqlite:///"))


def test_sqlite_utils_finds_the_full_text_index_and_searches_chinese(store_file):
    db = sqlite_utils.Database(store_file)
    articles = db["articles"]
    assert articles.detect_fts() == "articles_fts"
    assert [r["title"] for r in articles.search("智博会", columns=["title"])] == [CORPUS[2].title]
    assert {"sources", "articles", "article_urls", "article_events"} <= set(db.table_names())


def test_sqlite_utils_command_line_search(store_file):
    proc = subprocess.run([sys.executable, "-m", "sqlite_utils", "search", str(store_file), "articles", "Meijiang",
                           "-c", "title", "--csv"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert CORPUS[0].title in proc.stdout and CORPUS[1].title not in proc.stdout
