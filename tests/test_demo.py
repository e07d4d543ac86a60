"""`expowatch demo`: the whole cycle offline, as a new user runs it."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crawler.replica import ReplicaWeb
from storage.engine import session_factory
from storage.models import Article, ArticleEvent

pytestmark = pytest.mark.integration


def test_demo_crawls_twice_and_second_round_stores_only_the_new_articles(tmp_path, run_cli):
    db = tmp_path / "demo.db"
    # A short folder of its own: the extraction pool's socket path must fit in 108 bytes.
    tmp = Path(tempfile.mkdtemp(prefix="ew-demo-"))
    proc = run_cli("demo", "--db", str(db), timeout=180, env={"TMPDIR": str(tmp)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    first = re.search(r"Round 1, first crawl: (\d+) pages fetched, (\d+) new stor(?:y|ies)", out)
    second = re.search(r"Round 2, only what is new: (\d+) pages fetched, (\d+) new stor(?:y|ies)", out)
    assert first and second, out
    with ReplicaWeb() as web:  # how many articles the replica's second round publishes
        published_later = len(web.publish_next_round())
    assert published_later > 0 and int(second.group(2)) == published_later
    assert int(second.group(1)) < int(first.group(1))
    for section in ("The store:", "per source:", "per event:", "duplicates:", "skipped:", "Try next:"):
        assert section in out
    assert out.count("expowatch search --db") == 3
    assert str(db) in out
    with session_factory(f"sqlite:///{db}")() as session:
        assert session.scalar(select(func.count()).select_from(Article)) >= 40
        assert session.scalar(select(func.count()).select_from(ArticleEvent)) > 0
    assert not (tmp_path / "xdg").exists()  # wrote only its own database
    left = list(tmp.iterdir())
    shutil.rmtree(tmp)
    assert left == []  # and left no folder behind: the replica's ports are closed
