"""The replica's data: site specifications and article entries loaded from package data.

Each site lives in ``sites/<name>/``: ``site.json`` (URLs, formats, boilerplate),
HTML layout templates, and ``articles/*.json`` (one page each: content + expected).
Nothing here starts a server; see ``server.py``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from string import Template
from typing import Any
from zoneinfo import ZoneInfo

SITES_DIR = Path(__file__).parent / "sites"

# Site order is fixed so ports, TOML output and synthetic spreading are deterministic.
SITE_NAMES: tuple[str, ...] = (
    "wic-tianjin",
    "prwire",
    "wimc-nanjing",
    "technews",
    "cq-daily",
    "zh-organiser",
)

EVENT_SLUGS: frozenset[str] = frozenset(
    {
        "world-intelligence-congress",
        "world-intelligence-expo",
        "smart-china-expo",
        "world-intelligent-manufacturing-conference",
        "world-internet-conference",
    }
)

# Entry kinds: a real article, a JavaScript-only shell on an article URL, and a
# link that a list page carries although the URL answers 404.
ENTRY_KINDS = ("article", "js_shell", "missing")

ARTICLE_EXPECTED_KEYS: frozenset[str] = frozenset(
    {
        "url",
        "title",
        "published",
        "timezone",
        "language",
        "must_contain",
        "must_not_contain",
        "primary_event",
        "edition",
        "year",
        "mentioned_events",
        "duplicate_group",
        "phase",
    }
)
NON_ARTICLE_EXPECTED_KEYS: frozenset[str] = frozenset({"url", "phase"})

# Template names every site directory provides.
TEMPLATE_NAMES = ("layout", "article", "list", "home")


class ReplicaDataError(ValueError):
    """A replica data file is malformed; the message names the file and field."""


@dataclass(frozen=True)
class SiteSpec:
    """Everything about one replica site except its articles."""

    name: str
    directory: Path
    config: dict[str, Any]
    templates: dict[str, Template]
    snippets: dict[str, Template]

    @property
    def language(self) -> str:
        return self.config["language"]

    @property
    def timezone(self) -> str:
        return self.config["timezone"]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config["timezone"])

    @property
    def encoding(self) -> str:
        return self.config.get("encoding", "utf-8")

    @property
    def boilerplate(self) -> list[str]:
        return list(self.config.get("boilerplate", []))

    def list_path(self, page: int) -> str:
        """Path (with query) of list page ``page`` (1-based)."""
        pages = self.config["list_pages"]
        return pages["first"] if page == 1 else pages["nth"].format(n=page)


@dataclass(frozen=True)
class Entry:
    """One page a list links to: an article, a JS shell, or a dead link."""

    site: str
    slug: str
    kind: str
    path: str
    title: str
    published: datetime
    content: dict[str, Any]
    expected: dict[str, Any]
    source_file: Path | None = None
    moved_from: str | None = None

    @property
    def phase(self) -> int:
        return int(self.expected["phase"])

    @property
    def link_path(self) -> str:
        """The path list pages, feeds and sitemaps link to (the old URL if moved)."""
        return self.moved_from or self.path


def _load_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ReplicaDataError(f"{path}: cannot read replica JSON: {exc}") from exc


def load_site(name: str) -> SiteSpec:
    """Load ``sites/<name>/site.json`` and its templates."""
    directory = SITES_DIR / name
    config = _load_json(directory / "site.json")
    if config.get("name") != name:
        raise ReplicaDataError(f"{directory / 'site.json'}: name must be {name!r}")
    templates = {}
    for tname in TEMPLATE_NAMES:
        tpath = directory / f"{tname}.html"
        try:
            templates[tname] = Template(tpath.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ReplicaDataError(f"{tpath}: missing site template: {exc}") from exc
    snippets = {key: Template(text) for key, text in config.get("snippets", {}).items()}
    return SiteSpec(name, directory, config, templates, snippets)


def _require(data: dict[str, Any], key: str, where: Path) -> Any:
    if key not in data:
        raise ReplicaDataError(f"{where}: missing field {key!r}")
    return data[key]


def _parse_published(text: str, where: Path) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ReplicaDataError(f"{where}: 'published' is not ISO 8601: {text!r}") from exc
    if value.tzinfo is None:
        raise ReplicaDataError(f"{where}: 'published' needs an offset: {text!r}")
    return value


def load_entry(site: SiteSpec, path: Path, articles: dict[str, dict[str, Any]]) -> Entry:
    """Load one ``articles/<slug>.json``; ``articles`` resolves ``body_from`` references."""
    data = _load_json(path)
    kind = data.get("kind", "article")
    if kind not in ENTRY_KINDS:
        raise ReplicaDataError(f"{path}: kind must be one of {ENTRY_KINDS}, got {kind!r}")
    content = dict(data)
    expected = dict(_require(data, "expected", path))
    content.pop("expected")
    required = ARTICLE_EXPECTED_KEYS if kind == "article" else NON_ARTICLE_EXPECTED_KEYS
    missing = sorted(required - expected.keys())
    if missing:
        raise ReplicaDataError(f"{path}: expected is missing {missing}")
    if kind == "article":
        ref = content.get("body_from")
        if ref:
            if ref not in articles:
                raise ReplicaDataError(f"{path}: body_from {ref!r} names no article")
            content["body"] = list(articles[ref]["body"])
        _require(content, "body", path)
        expected["must_not_contain"] = _merge_unique(
            expected["must_not_contain"], site.boilerplate
        )
    return Entry(
        site=site.name,
        slug=path.stem,
        kind=kind,
        path=_require(content, "path", path),
        title=_require(content, "title", path),
        published=_parse_published(_require(content, "published", path), path),
        content=content,
        expected=expected,
        source_file=path,
        moved_from=content.get("moved_from"),
    )


def _merge_unique(first: list[str], second: list[str]) -> list[str]:
    merged = list(first)
    merged.extend(item for item in second if item not in merged)
    return merged


def load_catalog() -> tuple[dict[str, SiteSpec], list[Entry]]:
    """All sites and all hand-written entries, in a deterministic order."""
    sites = {name: load_site(name) for name in SITE_NAMES}
    raw: dict[str, dict[str, Any]] = {}
    files: list[tuple[SiteSpec, Path]] = []
    for site in sites.values():
        for path in sorted((site.directory / "articles").glob("*.json")):
            raw[f"{site.name}/{path.stem}"] = _load_json(path)
            files.append((site, path))
    entries = [load_entry(site, path, raw) for site, path in files]
    _check_unique_paths(entries)
    return sites, entries


def _check_unique_paths(entries: list[Entry]) -> None:
    seen: dict[tuple[str, str], Path | None] = {}
    for entry in entries:
        for path in filter(None, (entry.path, entry.moved_from)):
            key = (entry.site, path)
            if key in seen:
                raise ReplicaDataError(
                    f"{entry.source_file}: path {path} already used by {seen[key]}"
                )
            seen[key] = entry.source_file


def shown_paragraphs(site: SiteSpec, entry: Entry) -> list[str]:
    """The article's paragraphs as its page shows them: optional lead, dateline, body."""
    paragraphs = list(entry.content["body"])
    if entry.content.get("lead"):
        paragraphs.insert(0, entry.content["lead"])
    prefix = site.config.get("dateline_prefix")
    dateline = entry.content.get("fields", {}).get("dateline")
    if prefix and dateline:
        paragraphs[0] = prefix.format(dateline=dateline) + paragraphs[0]
    return paragraphs


def shown_text(site: SiteSpec, entry: Entry) -> str:
    """Plain text of :func:`shown_paragraphs` (what a perfect extractor returns)."""
    return "\n".join(strip_markup(p) for p in shown_paragraphs(site, entry))


def body_text(entry: Entry) -> str:
    """The article's body as plain text (paragraphs joined by newlines)."""
    return "\n".join(strip_markup(p) for p in entry.content.get("body", []))


_HEADING = re.compile(r"^#+\s*")


def strip_markup(paragraph: str) -> str:
    """A body paragraph without its light markup (``## `` marks a subheading)."""
    return _HEADING.sub("", paragraph)


# How much of the publication time each site's pages show.
PRECISIONS = ("seconds", "minutes", "date")


def iso_at_precision(value: datetime, precision: str) -> str:
    """ISO 8601 as far as a page shows it: with seconds, to the minute, or the date only."""
    if precision == "date":
        return value.date().isoformat()
    spec = "seconds" if precision == "seconds" else "minutes"
    return value.isoformat(timespec=spec)
