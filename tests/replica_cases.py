"""Replica article pages as extraction cases: bytes and charset fetched over HTTP, hints from the source TOML.

Shared by tests/test_extraction_replica.py and benchmarks/quality.py.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from crawler.hints import hints_for
from crawler.extract.extraction import ExtractionHints
from crawler.replica import ReplicaWeb
from crawler.replica.catalog import Entry, load_catalog, load_site, strip_markup
from spiders.sources import Source, parse_sources


@dataclass(frozen=True)
class ReplicaCase:
    """One replica page as the crawler receives it, with what a correct extraction yields."""

    site: str
    slug: str
    kind: str  # "article", "js_shell", "missing"
    url: str
    status: int
    body: bytes
    http_charset: str | None
    hints: ExtractionHints
    expected: dict[str, Any]
    expected_text: str  # the article's paragraphs as the page shows them ("" for non-articles)

    @property
    def case_id(self) -> str:
        return f"{self.site}/{self.slug}"


def catalog_ids(kind: str | None = None) -> list[str]:
    """Case ids of every hand-written replica entry (optionally of one kind), known without a server."""
    _, entries = load_catalog()
    return [f"{e.site}/{e.slug}" for e in entries if kind is None or e.kind == kind]


hints_for_source = hints_for  # the pipeline's own mapping


def fetch(url: str) -> tuple[int, bytes, str | None]:
    """Status, body and declared charset of one page from the running replica."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read(), response.headers.get_content_charset()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read(), error.headers.get_content_charset()


def replica_cases(web: ReplicaWeb) -> dict[str, ReplicaCase]:
    """Every published entry of a started ReplicaWeb (all rounds), keyed by case id."""
    while web.publish_next_round():
        pass
    sources = {s.name: s for s in parse_sources(web.sources_toml(), where="replica sources")}
    cases: dict[str, ReplicaCase] = {}
    for page in [*web.expected_articles(), *web.expected_non_articles()]:
        entry = page.entry
        status, body, charset = fetch(page.url)
        case = ReplicaCase(
            site=page.site,
            slug=entry.slug,
            kind=entry.kind,
            url=page.url,
            status=status,
            body=body,
            http_charset=charset,
            hints=hints_for_source(sources[page.site]),
            expected=page.expected,
            expected_text=article_text(entry) if entry.kind == "article" else "",
        )
        cases[case.case_id] = case
    return cases


def article_text(entry: Entry) -> str:
    """The paragraphs a reader sees as the article: lead, dateline and body, without markup."""
    content = entry.content
    paragraphs = [strip_markup(p) for p in content["body"]]
    if content.get("lead"):
        paragraphs.insert(0, strip_markup(content["lead"]))
    prefix = load_site(entry.site).config.get("dateline_prefix")
    dateline = content.get("fields", {}).get("dateline")
    if prefix and dateline:
        paragraphs[0] = prefix.format(dateline=dateline) + paragraphs[0]
    return "\n".join(paragraphs)
