"""docs/querying.md: its Python examples run, and the options it documents exist."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from conftest import REPO
from crawler.cli import app
from storage.engine import session_factory
from storage.exports import write_csv
from storage.queries import EXPORT_COLUMNS, SearchQuery, iter_articles
from test_search import CORPUS, build_store

DOC = (REPO / "docs" / "querying.md").read_text(encoding="utf-8")


def test_python_examples_run_against_a_store(sqlite_url, tmp_path, monkeypatch, capsys):
    build_store(sqlite_url)
    monkeypatch.setenv("EXPOWATCH_DB_URL", sqlite_url)
    monkeypatch.chdir(tmp_path)
    with session_factory(sqlite_url)() as session, open("sce.csv", "w", encoding="utf-8", newline="") as out:
        write_csv((a.to_dict() for a in iter_articles(session, SearchQuery(events=("smart-china-expo",)))),
                  out, EXPORT_COLUMNS)
    blocks = re.findall(r"```python\n(.+?)```", DOC, re.S)
    assert len(blocks) == 2
    for block in blocks:
        exec(compile(block, "docs/querying.md", "exec"), {})
    printed = capsys.readouterr().out
    assert CORPUS[2].title in printed  # the CSV read back (and the 智博会 export loop)
    assert CORPUS[0].title in printed and CORPUS[1].title in printed  # robots OR 机器人 at the expo


def test_documented_options_exist():
    documented = set(re.findall(r"`(--[a-z-]+)", DOC))
    helps = "".join(CliRunner().invoke(app, [cmd, "--help"], env={"COLUMNS": "200"}).output
                    for cmd in ("search", "show", "export"))
    assert documented and {o for o in documented if o not in helps} == set()
