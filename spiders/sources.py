"""Source declarations: what to watch on a site, read from TOML or declared in code.

A source is plain data. The generic spider (spiders/generic.py) crawls any
declaration; a site with special needs gets its own spider subclass.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from crawler.extract.htmltree import is_xpath  # one rule for the extractor and the source checks

SOURCES_ENV = "EXPOWATCH_SOURCES"
DEFAULT_SCHEDULE = "0 * * * *"  # hourly: often enough for press releases, gentle on sites
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
LANGUAGES = ("en", "zh", "mixed")


class SourceError(ValueError):
    """A source declaration is invalid; the message names file, source and key."""


@dataclass(frozen=True)
class Selectors:
    """Per-source overrides for the extractor (CSS, or XPath when starting with / or ()."""

    title: str | None = None
    date: str | None = None
    body: str | None = None
    drop_selectors: tuple[str, ...] = ()
    drop_phrases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Source:
    """One watched site: where to discover articles and how to read them."""

    name: str
    homepage: str | None = None
    feeds: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()
    list_pages: tuple[str, ...] = ()
    discover_sitemaps: bool = False  # also read the sitemaps robots.txt lists (Sitemap: lines)
    article_pattern: str | None = None
    article_links: str | None = None
    next_page: str | None = None
    language: str | None = None
    timezone: str = "UTC"
    schedule: str = DEFAULT_SCHEDULE
    event: str | None = None
    allow_private_addresses: bool = False
    obey_robots: bool = True
    enabled: bool = True
    founded: int | None = None
    max_pages: int = 50  # list pages followed from each declared list page (pagination cap)
    max_depth: int = 3  # levels of nested sitemap indexes followed
    stop_after_known_pages: int = 1  # paging stops after this many list pages with nothing new
    download_delay: float = 1.0
    concurrency: int = 2
    selectors: Selectors = field(default_factory=Selectors)

    @property
    def article_regex(self) -> re.Pattern[str] | None:
        """The compiled article URL pattern, if any."""
        return re.compile(self.article_pattern) if self.article_pattern else None

    @property
    def discovery_urls(self) -> tuple[str, ...]:
        """Every URL a crawl starts from."""
        return self.feeds + self.sitemaps + self.list_pages


_LIST_KEYS = {"feeds", "sitemaps", "list_pages"}
_SOURCE_KEYS = {f.name for f in fields(Source)}
_SELECTOR_KEYS = {f.name for f in fields(Selectors)}
_TYPES: dict[str, type | tuple[type, ...]] = {
    "name": str, "homepage": str, "article_pattern": str, "article_links": str,
    "next_page": str, "language": str, "timezone": str, "schedule": str, "event": str,
    "allow_private_addresses": bool, "obey_robots": bool, "discover_sitemaps": bool, "enabled": bool,
    "founded": int, "max_pages": int, "max_depth": int, "stop_after_known_pages": int,
    "download_delay": (int, float), "concurrency": int,
}
_SELECTOR_VALUE_KEYS = ("article_links", "next_page")


def source_from_dict(data: dict[str, Any], *, where: str = "<source>") -> Source:
    """Validate one declaration (as parsed from TOML) and build a Source."""
    name = data.get("name")
    label = f"{where}: source {name!r}" if name else f"{where}: source without a name"

    def fail(key: str, problem: str) -> SourceError:
        return SourceError(f"{label}: key {key!r}: {problem}")

    unknown = sorted(set(data) - _SOURCE_KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key (known keys: {', '.join(sorted(_SOURCE_KEYS))})")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise fail("name", "required; lower-case letters, digits, '-' or '_' (max 64)")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in _LIST_KEYS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise fail(key, "must be a list of URLs")
            for url in value:
                if not re.match(r"^https?://[^/\s]+", url):
                    raise fail(key, f"{url!r} is not an absolute http(s) URL")
            values[key] = tuple(value)
        elif key == "selectors":
            values[key] = _selectors(value, fail)
        elif key in _TYPES:
            expected = _TYPES[key]
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                kind = "number" if isinstance(expected, tuple) else expected.__name__
                raise fail(key, f"must be {kind}, got {value!r}")
            values[key] = value
    if "article_pattern" in values:
        try:
            re.compile(values["article_pattern"])
        except re.error as exc:
            raise fail("article_pattern", f"bad regular expression: {exc}") from None
    try:
        ZoneInfo(values.get("timezone", "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        raise fail("timezone", f"unknown time zone {values['timezone']!r}") from None
    try:
        CronTrigger.from_crontab(values.get("schedule", DEFAULT_SCHEDULE))
    except ValueError as exc:
        raise fail("schedule", f"bad cron expression {values['schedule']!r}: {exc}") from None
    if values.get("language") not in (None, *LANGUAGES):
        raise fail("language", f"must be one of {', '.join(LANGUAGES)}")
    if not (values.get("feeds") or values.get("sitemaps") or values.get("list_pages")
            or (values.get("discover_sitemaps") and values.get("homepage"))):
        if values.get("discover_sitemaps"):
            raise fail("discover_sitemaps", "needs a homepage (whose robots.txt lists the sitemaps)")
        raise fail("feeds", "a source needs at least one of feeds, sitemaps or list_pages "
                            "(or discover_sitemaps = true with a homepage)")
    if values.get("list_pages") and not (values.get("article_pattern") or values.get("article_links")):
        raise fail("article_pattern", "list_pages need article_pattern or article_links")
    for key in _SELECTOR_VALUE_KEYS:
        if key in values:
            problem = selector_problem(values[key])
            if problem:
                raise fail(key, problem)
    if "homepage" in values and not re.match(r"^https?://[^/\s]+", values["homepage"]):
        raise fail("homepage", f"{values['homepage']!r} is not an absolute http(s) URL")
    for key in ("max_pages", "max_depth", "stop_after_known_pages"):
        if values.get(key, 1) < 1:
            raise fail(key, "must be at least 1")
    if values.get("concurrency", 1) < 1:
        raise fail("concurrency", "must be at least 1")
    if values.get("download_delay", 0) < 0:
        raise fail("download_delay", "must not be negative")
    return Source(**values)


def selector_problem(selector: str) -> str | None:
    """Why a CSS or XPath selector (XPath starts with / or () cannot be used, or None."""
    from cssselect import SelectorError
    from parsel import Selector

    if not selector.strip():
        return "must be a non-empty CSS or XPath selector"
    xpath = is_xpath(selector)
    try:
        page = Selector(text="<html></html>")
        page.xpath(selector) if xpath else page.css(selector)
    except (SelectorError, ValueError) as exc:
        return f"bad {'XPath' if xpath else 'CSS'} selector {selector!r}: {exc}"
    return None


def _selectors(value: Any, fail) -> Selectors:
    if not isinstance(value, dict):
        raise fail("selectors", "must be a table")
    unknown = sorted(set(value) - _SELECTOR_KEYS)
    if unknown:
        raise fail(f"selectors.{unknown[0]}", f"unknown key (known: {', '.join(sorted(_SELECTOR_KEYS))})")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in ("drop_selectors", "drop_phrases"):
            if not isinstance(item, list) or not all(isinstance(v, str) for v in item):
                raise fail(f"selectors.{key}", "must be a list of strings")
            out[key] = tuple(item)
            for selector in item:
                if key == "drop_selectors" and (problem := selector_problem(selector)):
                    raise fail(f"selectors.{key}", problem)
        elif not isinstance(item, str) or not item.strip():
            raise fail(f"selectors.{key}", "must be a non-empty CSS or XPath string")
        elif problem := selector_problem(item):
            raise fail(f"selectors.{key}", problem)
        else:
            out[key] = item
    return Selectors(**out)


def parse_sources(text: str, *, where: str) -> list[Source]:
    """Parse a TOML document of `[[source]]` tables."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SourceError(f"{where}: not valid TOML: {exc}") from None
    extra = sorted(set(doc) - {"source"})
    if extra:
        raise SourceError(f"{where}: unknown top-level key {extra[0]!r} (expected [[source]] tables)")
    tables = doc.get("source", [])
    if not isinstance(tables, list):
        raise SourceError(f"{where}: 'source' must be an array of tables ([[source]])")
    sources = [source_from_dict(t, where=where) for t in tables]
    _check_unique(sources, where)
    return sources


def load_sources_file(path: str | os.PathLike[str]) -> list[Source]:
    """Read a user's sources file; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"{path}: cannot read sources file: {exc.strerror or exc}") from None
    return parse_sources(text, where=str(path))


def builtin_sources() -> list[Source]:
    """The sources that ship with expowatch (spiders/builtin_sources.toml)."""
    text = resources.files("spiders").joinpath("builtin_sources.toml").read_text(encoding="utf-8")
    return parse_sources(text, where="built-in sources")


def load_sources(sources_file: str | os.PathLike[str] | None = None) -> dict[str, Source]:
    """Built-in sources plus the user's file (argument, else EXPOWATCH_SOURCES).

    A user source with the name of a built-in one replaces it.
    """
    merged = {s.name: s for s in builtin_sources()}
    path = sources_file or os.environ.get(SOURCES_ENV) or None
    if path:
        merged.update({s.name: s for s in load_sources_file(path)})
    return merged


def _check_unique(sources: list[Source], where: str) -> None:
    seen: set[str] = set()
    for source in sources:
        if source.name in seen:
            raise SourceError(f"{where}: source {source.name!r}: key 'name': duplicate source name")
        seen.add(source.name)


def apply_politeness(settings, source: Source) -> None:
    """A source's delay, concurrency and robots choice as spider-priority Scrapy settings (its crawl and its survey)."""
    settings.set("DOWNLOAD_DELAY", source.download_delay, priority="spider")
    settings.set("CONCURRENT_REQUESTS_PER_DOMAIN", source.concurrency, priority="spider")
    settings.set("ROBOTSTXT_OBEY", source.obey_robots, priority="spider")
