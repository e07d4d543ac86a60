"""TOML source declarations for the running replica sites (read by spiders/sources.py)."""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from .catalog import SiteSpec
from .render import top_sitemaps

# Keys copied from site.json to the [source.selectors] table when present.
SELECTOR_KEYS = ("title", "date", "body")


def _value(value: Any) -> str:
    """A TOML value for a str / bool / int / list of str."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _literal(value: str) -> str:
    """A TOML literal string (no escapes), the readable form for regular expressions."""
    if "'" in value or "\n" in value:
        return _value(value)
    return f"'{value}'"


def source_table(spec: SiteSpec, base: str) -> str:
    """One ``[[source]]`` table for ``spec`` served at ``base``."""
    config = spec.config
    pairs: list[tuple[str, str]] = [
        ("name", _value(spec.name)),
        ("homepage", _value(base + "/")),
        ("feeds", _value([base + config["feed"]] if config.get("feed") else [])),
        ("sitemaps", _value([base + path for path in top_sitemaps(spec)])),
        ("list_pages", _value([base + spec.list_path(1)])),
        ("article_pattern", _literal("^" + re.escape(base) + config["article_pattern"])),
    ]
    for key in ("article_links", "next_page"):
        if config.get(key):
            pairs.append((key, _value(config[key])))
    pairs += [
        ("language", _value(spec.language)),
        ("timezone", _value(spec.timezone)),
        ("schedule", _value(config.get("schedule", "*/30 * * * *"))),
    ]
    for key in ("event", "founded"):
        if config.get(key) is not None:
            pairs.append((key, _value(config[key])))
    # the replica is local: no politeness delay needed, so the demo and tests run fast
    pairs += [("allow_private_addresses", "true"), ("enabled", "true"), ("download_delay", "0"), ("concurrency", "4")]
    lines = ["[[source]]"] + [f"{key} = {value}" for key, value in pairs]
    selectors = config.get("selectors") or {}
    chosen = [(k, _value(selectors[k])) for k in SELECTOR_KEYS if selectors.get(k)]
    for key in ("drop_selectors", "drop_phrases"):
        if config.get(key):
            chosen.append((key, _value(list(config[key]))))
    if chosen:
        lines.append("")
        lines.append("[source.selectors]")
        lines += [f"{key} = {value}" for key, value in chosen]
    return "\n".join(lines) + "\n"


def sources_toml(specs: Mapping[str, SiteSpec], bases: Mapping[str, str]) -> str:
    """All sites' declarations, in site order."""
    header = "# Replica sources (expowatch demo web); generated for the running servers.\n\n"
    return header + "\n".join(source_table(spec, bases[name]) for name, spec in specs.items())
