"""From what a site survey found to a source declaration: article pattern, zone, language, TOML.

Plain functions over URLs and strings; the survey itself (fetching) is spiders/survey.py.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from spiders.sources import NAME_PATTERN

# A URL shape is proposed as the article pattern only when this many distinct URLs share it:
# fewer is a navigation menu or a coincidence, not a list of articles.
MIN_ARTICLES_FOR_PATTERN = 3
# Another shape joins the pattern when it has at least this share of the main shape's URLs
# (a site that changed its URL scheme once, or writes two sections alike).
SECOND_SHAPE_SHARE = 0.3
DIGITS = re.compile(r"\d+")
SLUG = re.compile(r"^[a-z0-9-]+$")
# Offsets written in dates ("+08:00", "+0800", "Z") and, for each, the zone proposed (a
# hint to check: several zones share an offset; these are the commonest for news sites).
OFFSET_ZONES = {
    "+08:00": "Asia/Shanghai", "+09:00": "Asia/Tokyo", "+05:30": "Asia/Kolkata", "+07:00": "Asia/Bangkok",
    "+03:00": "Europe/Moscow", "+02:00": "Europe/Berlin", "+01:00": "Europe/Berlin", "+00:00": "UTC",
    "-03:00": "America/Sao_Paulo", "-04:00": "America/New_York", "-05:00": "America/New_York",
    "-06:00": "America/Chicago", "-07:00": "America/Los_Angeles", "-08:00": "America/Los_Angeles",
    "+10:00": "Australia/Sydney", "+11:00": "Australia/Sydney",
}
ISO_OFFSET = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})\b")
RFC822_OFFSET = re.compile(r"\d{1,2} \w{3} \d{4} \d{2}:\d{2}(?::\d{2})? ([+-]\d{4}|GMT|UTC)\b")


@dataclass(frozen=True)
class PatternProposal:
    """The proposed article_pattern, the URLs it matches, and why."""

    pattern: str
    matched: int
    shapes: int
    example: str


def escape(text: str) -> str:
    """re.escape, without escaping '-' (never inside a class here): the pattern stays readable."""
    return re.escape(text).replace("\\-", "-")


def segment_regex(values: list[str]) -> str:
    """A regular expression for one path segment from the values seen at that position."""
    distinct = set(values)
    if all(v.isdigit() for v in distinct):  # even when all samples share it: next year is 2025
        return digits_regex(list(distinct))
    if len(distinct) == 1:
        return escape(values[0])
    skeletons = {DIGITS.sub("#", v) for v in distinct}
    if len(skeletons) == 1:  # t20190829_123.html, content_45.html: literal parts and digit runs
        runs = [DIGITS.findall(v) for v in distinct]
        parts = next(iter(skeletons)).split("#")
        out = escape(parts[0])
        for index, part in enumerate(parts[1:]):
            out += digits_regex([r[index] for r in runs]) + escape(part)
        return out
    # slugs: a common ending (a -NNNNNNNNN id, an extension) kept, the free text before it one class
    suffix = re.sub(r"^[a-z0-9]+", "", _common_suffix([DIGITS.sub("#", v) for v in distinct]))
    heads = [v[: len(v) - len(_tail(v, suffix))] for v in distinct]
    free = "[a-z0-9-]" if all(SLUG.match(h) for h in heads if h) else "[^/]"
    return free + ("*" if not all(heads) else "+") + _suffix_regex(suffix, distinct)


def digits_regex(runs: list[str]) -> str:
    """A digit run: its fixed width when every value is a date part (year, month, day, YYYYMM,
    YYYYMMDD, MMDD), else \\d+ (an id grows: 9999 is followed by 10000)."""
    lengths = {len(r) for r in runs}
    if len(lengths) == 1 and all(_date_like(r) for r in runs):
        return rf"\d{{{lengths.pop()}}}"
    return r"\d+"


def _date_like(run: str) -> bool:
    year = lambda text: 1990 <= int(text) <= 2099  # noqa: E731
    month = lambda text: 1 <= int(text) <= 12  # noqa: E731
    day = lambda text: 1 <= int(text) <= 31  # noqa: E731
    if len(run) == 2:
        return day(run)
    if len(run) == 4:
        return year(run) or (month(run[:2]) and day(run[2:]))
    if len(run) == 6:
        return year(run[:4]) and month(run[4:])
    if len(run) == 8:
        return year(run[:4]) and month(run[4:6]) and day(run[6:])
    return False


def _tail(value: str, suffix: str) -> str:
    """The end of value that the skeleton suffix (# for a digit run) covers."""
    if not suffix:
        return ""
    match = re.search(re.escape(suffix).replace("\\#", r"\d+") + "$", value)
    return match.group(0) if match else ""


def _suffix_regex(suffix: str, values: set[str]) -> str:
    """The skeleton suffix as a regex, each digit run with its fixed length when it has one."""
    parts = suffix.split("#")
    lengths: list[list[str]] = [[] for _ in parts[1:]]
    for value in values:
        for index, run in enumerate(DIGITS.findall(_tail(value, suffix))):
            lengths[index].append(run)
    out = escape(parts[0])
    for index, part in enumerate(parts[1:]):
        out += digits_regex(lengths[index]) + escape(part)
    return out


def _common_suffix(values: list[str]) -> str:
    first = min(values, key=len)
    for size in range(len(first), 0, -1):
        tail = first[-size:]
        if all(v.endswith(tail) for v in values):
            return tail
    return ""


def shape_of(url: str) -> tuple:
    """What groups URLs of one kind: host, depth, trailing slash, extension, digit-only positions."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    extension = segments[-1].rpartition(".")[2] if segments and "." in segments[-1] else ""
    digit_positions = tuple(i for i, s in enumerate(segments) if s.isdigit())
    first = segments[0] if len(segments) > 1 and not segments[0].isdigit() else ""
    return (parts.netloc.lower(), len(segments), parts.path.endswith("/"), extension, digit_positions, first)


def looks_like_article(url: str) -> bool:
    """A path with a dated or numbered part (an article URL usually has one; a section never)."""
    path = urlsplit(url).path
    return bool(re.search(r"\d{3,}|/\d{4}/\d{1,2}/|/\d{1,2}/", path)) and not path.endswith(("/feed/", ".xml"))


def propose_pattern(urls: list[str], origin: str) -> PatternProposal | None:
    """The common shape of the article URLs found, as an anchored article_pattern (None: no shape)."""
    candidates = sorted({u.split("#")[0] for u in urls if looks_like_article(u)})
    groups: dict[tuple, list[str]] = {}
    for url in candidates:
        groups.setdefault(shape_of(url), []).append(url)
    ranked = sorted(groups.values(), key=len, reverse=True)
    if not ranked or len(ranked[0]) < MIN_ARTICLES_FOR_PATTERN:
        return None
    chosen = [g for g in ranked if len(g) >= max(MIN_ARTICLES_FOR_PATTERN, SECOND_SHAPE_SHARE * len(ranked[0]))]
    regexes = [_path_regex(group) for group in chosen]
    body = regexes[0] if len(regexes) == 1 else "(?:" + "|".join(regexes) + ")"
    pattern = "^" + escape(origin) + body + "$"
    return PatternProposal(pattern, sum(len(g) for g in chosen), len(chosen), chosen[0][0])


def _path_regex(urls: list[str]) -> str:
    paths = [urlsplit(u).path for u in urls]
    columns = list(zip(*[[s for s in p.split("/") if s] for p in paths]))
    out = "".join("/" + segment_regex(list(column)) for column in columns)
    return out + ("/" if paths[0].endswith("/") else "")


def offsets_in(text: str) -> Counter[str]:
    """UTC offsets written in the dates of a page, feed or sitemap, as +HH:MM."""
    found: Counter[str] = Counter()
    for match in ISO_OFFSET.finditer(text):
        found[_normal_offset(match.group(1))] += 1
    for match in RFC822_OFFSET.finditer(text):
        found[_normal_offset(match.group(1))] += 1
    return found


def _normal_offset(value: str) -> str:
    if value in ("Z", "GMT", "UTC"):
        return "+00:00"
    value = value.replace(":", "")
    return f"{value[:3]}:{value[3:]}"


def propose_timezone(offsets: Counter[str], language: str | None) -> tuple[str, str]:
    """A time zone and the reason for it: the commonest non-UTC offset seen, else the language."""
    local = Counter({k: v for k, v in offsets.items() if k != "+00:00"})
    if local:
        offset, count = local.most_common(1)[0]
        zone = OFFSET_ZONES.get(offset)
        if zone:
            return zone, f"{count} dates written with offset {offset}; {zone} is a zone with that offset (check)"
    if language == "zh":
        return "Asia/Shanghai", "no offset in the dates; the pages are in Chinese (check)"
    if offsets:
        return "UTC", f"dates written in UTC ({offsets['+00:00']} seen); the site's own zone is unknown (check)"
    return "UTC", "no offset in the dates and no hint: UTC (set the site's zone if its dates are local)"


def language_of(lang_attr: str | None) -> str | None:
    """en / zh from an html lang attribute (zh-CN, en-US, ...); None for others or none."""
    code = (lang_attr or "").strip().lower()[:2]
    return code if code in ("en", "zh") else None


def name_for(url: str) -> str:
    """A source name from a homepage URL: its host without www, as name characters."""
    parts = urlsplit(url)
    host = (parts.hostname or "site").removeprefix("www.")
    name = re.sub(r"[^a-z0-9]+", "-", f"{host}-{parts.port}" if parts.port else host).strip("-")[:64] or "site"
    return name if NAME_PATTERN.match(name) else f"s-{name}"[:64]


@dataclass
class Declaration:
    """A proposed [[source]] table: (key, value, comment) rows in order, rendered as TOML."""

    rows: list[tuple[str, object, str]] = field(default_factory=list)

    def add(self, key: str, value: object, comment: str = "") -> None:
        self.rows.append((key, value, comment))

    def as_dict(self) -> dict[str, object]:
        return {key: value for key, value, _ in self.rows}

    def toml(self) -> str:
        lines = ["[[source]]"]
        for key, value, comment in self.rows:
            line = f"{key} = {_toml_value(key, value)}"
            lines.append(f"{line}  # {comment}" if comment else line)
        return "\n".join(lines) + "\n"


def _toml_value(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        if key == "article_pattern" and "'" not in value:
            return f"'{value}'"  # a literal string: the regex reads as written
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(key, v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")
