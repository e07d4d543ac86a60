"""`--set NAME=VALUE`: Scrapy setting overrides from the command line, checked before a crawl.

Every check of a --set pair lives in check_setting(), so a new rule (a name refused, a
value range) is one more clause there. A wrong pair is one line and exit 2, before any
crawl starts: an unknown name (a typo would otherwise be ignored in silence) or a value
that cannot be read as the setting's type (it would otherwise fail deep in Twisted).
"""

from __future__ import annotations

import difflib
import json
import math
from typing import Any

from crawler.cli.app import EXIT_USAGE, fail

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def known_settings() -> dict[str, Any]:
    """Every setting a crawl knows, with its value: Scrapy's defaults, the project's, expowatch's run options."""
    from crawler.crawl import crawl_settings

    settings = crawl_settings(db_url="sqlite://")
    return {name: settings[name] for name in settings}


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """NAME=VALUE pairs from --set, each checked and converted to its setting's type; or one clear error."""
    known = known_settings() if pairs else {}
    overrides: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not name.isupper():
            fail(f"--set {pair!r}: expected NAME=VALUE with an upper-case Scrapy setting name", EXIT_USAGE)
        overrides[name] = check_setting(name, value, known)
    return overrides


def check_setting(name: str, value: str, known: dict[str, Any]) -> Any:
    """The value of one --set pair as its setting's type, or fail naming the pair and what was expected."""
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        fail(f"--set {name}={value}: unknown setting {name}{hint}; see "
             "https://docs.scrapy.org/en/latest/topics/settings.html", EXIT_USAGE)
    default = known[name]
    try:
        return convert(value, default)
    except ValueError as exc:
        shown = f" (the default is {default!r})" if isinstance(default, (bool, int, float)) else ""
        fail(f"--set {name}={value}: {exc}{shown}", EXIT_USAGE)


def convert(value: str, default: Any) -> Any:
    """value read as the type of default; ValueError says what was expected."""
    if isinstance(default, bool):
        if value.lower() in TRUE_WORDS:
            return True
        if value.lower() in FALSE_WORDS:
            return False
        raise ValueError("expected true or false")
    if isinstance(default, (int, float)):
        try:
            return int(value)
        except ValueError:
            pass
        try:
            number = float(value)
        except ValueError:
            raise ValueError("expected a number") from None
        if not math.isfinite(number):
            raise ValueError("expected a finite number")
        return number
    from scrapy.settings import BaseSettings

    if isinstance(default, (dict, BaseSettings)):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ValueError('expected a JSON object such as {"name": 100}')
        return parsed
    if isinstance(default, (list, tuple)):
        if value.startswith("["):
            try:
                parsed = json.loads(value)
            except ValueError:
                raise ValueError('expected a JSON list such as ["a", "b"] or a comma-separated list') from None
            if isinstance(parsed, list):
                return parsed
        return [part.strip() for part in value.split(",") if part.strip()]
    return value
