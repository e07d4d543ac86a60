"""The alerts file: rules in TOML, validated like the sources file (file, rule and key named).

    [delivery]                      # optional
    max_tries = 8
    backoff_seconds = 60

    [[rule]]
    name = "wie-news"
    channels = ["mailtos://user:pass@example.org?smtp=smtp.example.org", "json://hooks.example.org/expowatch"]
    mode = "digest"                 # or "each" (the default): one message per new story
    cron = "0 8 * * *"              # digests only
    timezone = "Asia/Shanghai"      # the cron's time zone
    [rule.match]
    query = 'robot OR 机器人'        # the `expowatch search` syntax
    event = "world-intelligence-expo"
    year = 2024                     # or edition = 5
    sources = ["wic-tianjin"]
    language = "en"

    [[rule]]
    name = "broken-sources"
    health = true                   # a message when a source turns unhealthy, one when it recovers
    channels = ["json://127.0.0.1:8080/health"]
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crawler.alerts.channels import channel_problem

if TYPE_CHECKING:
    from storage.queries import SearchQuery

ALERTS_ENV = "EXPOWATCH_ALERTS"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # as source names: safe in logs, URLs, job ids
EACH, DIGEST = "each", "digest"
MODES = (EACH, DIGEST)
DEFAULT_MAX_TRIES = 8  # with the default backoff: retried for about four hours before giving up
DEFAULT_BACKOFF_S = 60.0  # the first retry a minute after a failure, doubling each time
MAX_BACKOFF_S = 6 * 3600.0  # never wait longer than this between two tries

_RULE_KEYS = ("name", "channels", "match", "health", "mode", "cron", "timezone")
_MATCH_KEYS = ("query", "event", "edition", "year", "sources", "language")
_DELIVERY_KEYS = ("max_tries", "backoff_seconds")


class AlertsFileError(ValueError):
    """The alerts file cannot be used; the message names the file, the rule and the key."""


@dataclass(frozen=True)
class RuleMatch:
    """What a rule matches: a search (text in the search syntax and filters), all of which must hold."""

    query: str = ""
    event: str | None = None
    edition: int | None = None
    year: int | None = None
    sources: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    def search_query(self) -> SearchQuery:
        """The same search `expowatch search` runs for these options (one row per story, no limit)."""
        from storage.queries import SearchQuery

        return SearchQuery(text=self.query, events=(self.event,) if self.event else (),
                           editions=(self.edition,) if self.edition else (), years=(self.year,) if self.year else (),
                           sources=self.sources, languages=self.languages, limit=None)

    def describe(self) -> str:
        """A short human summary, e.g. 'robot; event world-intelligence-expo 2024; sources a, b'."""
        parts = [repr(self.query)] if self.query else []
        if self.event:
            parts.append(f"event {self.event}" + (f" {self.year}" if self.year else "")
                         + (f" edition {self.edition}" if self.edition else ""))
        if self.sources:
            parts.append("sources " + ", ".join(self.sources))
        if self.languages:
            parts.append("language " + ", ".join(self.languages))
        return "; ".join(parts) or "every new article"


@dataclass(frozen=True)
class AlertRule:
    """One rule: what to watch (new articles matching, or source health) and where to tell."""

    name: str
    channels: tuple[str, ...]
    match: RuleMatch = field(default_factory=RuleMatch)
    health: bool = False
    mode: str = EACH
    cron: str | None = None
    timezone: str = "UTC"

    @property
    def kind(self) -> str:
        """health | each | digest."""
        return "health" if self.health else self.mode


@dataclass(frozen=True)
class DeliveryPolicy:
    """How often a failed delivery is tried again, and when it is given up."""

    max_tries: int = DEFAULT_MAX_TRIES
    backoff_seconds: float = DEFAULT_BACKOFF_S

    def delay_after(self, tries: int) -> float:
        """Seconds to wait after the tries-th failed try: backoff doubling each time, capped."""
        return min(self.backoff_seconds * 2 ** max(0, tries - 1), MAX_BACKOFF_S)


@dataclass(frozen=True)
class AlertsConfig:
    """A validated alerts file."""

    path: str
    rules: tuple[AlertRule, ...]
    delivery: DeliveryPolicy = DeliveryPolicy()

    def rule(self, name: str) -> AlertRule | None:
        return next((r for r in self.rules if r.name == name), None)


def _problem(where: str, rule: str | None, key: str, problem: str) -> AlertsFileError:
    label = f"rule {rule!r}" if rule else "rule without a name"
    return AlertsFileError(f"{where}: {label}: key {key!r}: {problem}")


def _strings(value: Any) -> tuple[str, ...] | None:
    """value as a tuple of strings (a string or a list of them), or None when it is neither."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _match(value: Any, fail, *, health: bool) -> RuleMatch:
    from storage.query_syntax import QueryTooLong, parse_query

    if not isinstance(value, dict):
        raise fail("match", "must be a table ([rule.match] or match = { ... })")
    unknown = sorted(set(value) - set(_MATCH_KEYS))
    if unknown:
        raise fail(f"match.{unknown[0]}", f"unknown key (known: {', '.join(_MATCH_KEYS)})")
    if health and set(value) - {"sources"}:
        key = sorted(set(value) - {"sources"})[0]
        raise fail(f"match.{key}", "a health rule matches sources only")
    out: dict[str, Any] = {}
    if "query" in value:
        if not isinstance(value["query"], str):
            raise fail("match.query", f"must be a string in the search syntax, got {value['query']!r}")
        try:
            parse_query(value["query"])
        except QueryTooLong as exc:
            raise fail("match.query", str(exc)) from None
        out["query"] = value["query"]
    if "event" in value:
        if not isinstance(value["event"], str) or not value["event"].strip():
            raise fail("match.event", f"must be an event slug such as smart-china-expo, got {value['event']!r}")
        out["event"] = value["event"].strip().lower()
    for key in ("edition", "year"):
        if key in value:
            number = value[key]
            if not isinstance(number, int) or isinstance(number, bool) or number < 1:
                raise fail(f"match.{key}", f"must be a positive whole number, got {number!r}")
            if "event" not in value:
                raise fail(f"match.{key}", "needs match.event (the edition or year of which event?)")
            out[key] = number
    for key, target in (("sources", "sources"), ("language", "languages")):
        if key in value:
            names = _strings(value[key])
            if names is None or not all(n.strip() for n in names):
                raise fail(f"match.{key}", f"must be a string or a list of strings, got {value[key]!r}")
            out[target] = tuple(n.strip() for n in names)
    return RuleMatch(**out)


def rule_from_dict(data: Any, *, where: str) -> AlertRule:
    """Validate one [[rule]] table and build an AlertRule."""
    from scheduler.triggers import parse_schedule

    if not isinstance(data, dict):
        raise AlertsFileError(f"{where}: 'rule' must be an array of tables ([[rule]])")
    name = data.get("name") if isinstance(data.get("name"), str) else None

    def fail(key: str, problem: str) -> AlertsFileError:
        return _problem(where, name, key, problem)

    unknown = sorted(set(data) - set(_RULE_KEYS))
    if unknown:
        raise fail(unknown[0], f"unknown key (known keys: {', '.join(_RULE_KEYS)})")
    if name is None or not NAME_PATTERN.match(name):
        raise fail("name", "required; lower-case letters, digits, '-' or '_' (max 64)")
    health = data.get("health", False)
    if not isinstance(health, bool):
        raise fail("health", f"must be true or false, got {health!r}")
    channels = data.get("channels")
    if not isinstance(channels, list) or not channels:
        raise fail("channels", "required: a list of one or more Apprise URLs")
    for url in channels:
        problem = channel_problem(url)
        if problem:
            raise fail("channels", problem)
    if len(set(channels)) != len(channels):
        raise fail("channels", "the same channel is listed twice")
    mode = data.get("mode", EACH)
    if mode not in MODES:
        raise fail("mode", f"must be one of {', '.join(MODES)}, got {mode!r}")
    if health and mode != EACH:
        raise fail("mode", "a health rule sends each change as it happens (mode = \"each\")")
    timezone = data.get("timezone", "UTC")
    try:
        if not isinstance(timezone, str):
            raise ValueError
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail("timezone", f"unknown time zone {timezone!r} (use an IANA name such as Asia/Shanghai)") from None
    cron = data.get("cron")
    if mode == DIGEST:
        if not isinstance(cron, str):
            raise fail("cron", "a digest rule needs cron = \"MIN HOUR DAY MONTH WEEKDAY\" (when to send its digest)")
        try:
            parse_schedule(cron, timezone)
        except ValueError as exc:
            raise fail("cron", f"bad cron expression {cron!r}: {exc}") from None
    elif cron is not None:
        raise fail("cron", "only a digest rule (mode = \"digest\") has a cron")
    match = _match(data.get("match", {}), fail, health=health)
    return AlertRule(name=name, channels=tuple(channels), match=match, health=health, mode=mode,
                     cron=cron, timezone=timezone)


def _delivery(value: Any, where: str) -> DeliveryPolicy:
    def fail(key: str, problem: str) -> AlertsFileError:
        return AlertsFileError(f"{where}: [delivery]: key {key!r}: {problem}")

    if not isinstance(value, dict):
        raise AlertsFileError(f"{where}: 'delivery' must be a table ([delivery])")
    unknown = sorted(set(value) - set(_DELIVERY_KEYS))
    if unknown:
        raise fail(unknown[0], f"unknown key (known: {', '.join(_DELIVERY_KEYS)})")
    tries = value.get("max_tries", DEFAULT_MAX_TRIES)
    if not isinstance(tries, int) or isinstance(tries, bool) or tries < 1:
        raise fail("max_tries", f"must be a whole number of at least 1, got {tries!r}")
    backoff = value.get("backoff_seconds", DEFAULT_BACKOFF_S)
    if not isinstance(backoff, (int, float)) or isinstance(backoff, bool) or backoff < 0:
        raise fail("backoff_seconds", f"must be a number of seconds, not negative, got {backoff!r}")
    return DeliveryPolicy(max_tries=tries, backoff_seconds=float(backoff))


def parse_alerts(text: str, *, where: str) -> AlertsConfig:
    """Parse and validate an alerts document; AlertsFileError names where, the rule and the key."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AlertsFileError(f"{where}: not valid TOML: {exc}") from None
    extra = sorted(set(doc) - {"rule", "delivery"})
    if extra:
        raise AlertsFileError(f"{where}: unknown top-level key {extra[0]!r} (expected [[rule]] tables and [delivery])")
    tables = doc.get("rule", [])
    if not isinstance(tables, list):
        raise AlertsFileError(f"{where}: 'rule' must be an array of tables ([[rule]])")
    rules = [rule_from_dict(t, where=where) for t in tables]
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise _problem(where, rule.name, "name", "duplicate rule name")
        seen.add(rule.name)
    return AlertsConfig(path=where, rules=tuple(rules), delivery=_delivery(doc.get("delivery", {}), where))


def load_alerts_file(path: str | os.PathLike[str]) -> AlertsConfig:
    """Read and validate the user's alerts file; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AlertsFileError(f"{path}: cannot read alerts file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise AlertsFileError(f"{path}: not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    return parse_alerts(text, where=str(path))


def alerts_path(alerts_file: str | os.PathLike[str] | None = None) -> str | None:
    """The alerts file to use: the argument, else EXPOWATCH_ALERTS, else None (no alerts)."""
    return str(alerts_file) if alerts_file else os.environ.get(ALERTS_ENV) or None
