"""The layers written in .importlinter hold, and each contract fails on an import that breaks it."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO

PACKAGES = ("crawler", "spiders", "storage", "scheduler")
LINT = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"

# One import per contract that breaks it, added to the end of a module of a copy of the tree.
BAD_IMPORTS = {
    "pure-extraction": ("crawler/extract/encoding.py", "import scrapy", "crawler.extract.encoding -> scrapy"),
    "pure-dedup": ("storage/dedup.py", "import sqlalchemy", "storage.dedup -> sqlalchemy"),
    "pure-events": ("crawler/events/matcher.py", "import twisted", "crawler.events.matcher -> twisted"),
    "light-page-work": ("crawler/page_work.py", "import storage.store", "crawler.page_work -> storage.store"),
    "storage-at-the-bottom": ("storage/models.py", "import spiders.sources", "storage.models -> spiders.sources"),
    "cli-at-the-top": ("scheduler/service.py", "import crawler.cli.app", "scheduler.service -> crawler.cli.app"),
    "crawl-stack": ("spiders/sources.py", "import crawler.spiderloader", "spiders.sources -> crawler.spiderloader"),
}


def contracts() -> list[str]:
    config = configparser.ConfigParser()
    config.read(REPO / ".importlinter")
    return [section.split(":", 2)[2] for section in config.sections() if section.startswith("importlinter:contract:")]


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "300"}  # one line per contract and per import chain
    return subprocess.run([sys.executable, "-c", LINT], cwd=root, capture_output=True, text=True, env=env, timeout=120)


def test_every_contract_has_a_breaking_import_here():
    assert sorted(contracts()) == sorted(BAD_IMPORTS)


def test_the_code_keeps_every_contract():
    proc = lint_imports(REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Contracts: {len(BAD_IMPORTS)} kept, 0 broken." in proc.stdout


def test_each_contract_fails_on_an_import_that_breaks_it(tmp_path):
    only_python = shutil.ignore_patterns("__pycache__", "sites", "*.html", "*.toml", "*.md", "*.json", "*.xml")
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=only_python)
    shutil.copy(REPO / ".importlinter", tmp_path / ".importlinter")
    for module, statement, _ in BAD_IMPORTS.values():
        with open(tmp_path / module, "a", encoding="utf-8") as source:
            source.write(f"\n{statement}  # deliberately against the layers\n")
    proc = lint_imports(tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"Contracts: 0 kept, {len(BAD_IMPORTS)} broken." in proc.stdout, proc.stdout
    for _, _, chain in BAD_IMPORTS.values():
        assert chain in proc.stdout, f"{chain} not reported:\n{proc.stdout}"
