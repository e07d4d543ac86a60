"""Published and updated dates of an article page, to the minute where the page shows it.

Candidates come from the source's own date selector; page metadata (meta
tags, JSON-LD, ``<time>`` / itemprop elements); visible bylines
("Time:2019-07-19 17:30:36", "June 21, 2024", "2021年3月19日 10:20"); the URL
(/2021/0319/, /2021-03-19/); and htmldate's original-date search, which reads
many more formats and languages ("13.01.2022", "21. Jan. 2015").

They are chosen by evidence, strongest first: the selector; metadata that
names its time zone; a labelled or timed byline after the headline (or a wire
dateline). Only when none of these exists is htmldate asked: a candidate of
ours on the day it finds is kept (it has the time and the raw string), else its
day. A metadata date without a time of day is refined by a byline on the same
day that shows one, and a UTC metadata time whose minute a byline shows as a
local wall-clock time gives the page's own offset.

Naive times are read in the source's time zone (IANA name) and every result is
returned in UTC, with the raw string kept. Implausible dates (in the future, or
before the site or the web existed) are flagged, never stored as if true.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import htmldate
from lxml import etree
from lxml.html import HtmlElement

from crawler.extract.htmltree import jsonld_objects, normalize_space, select_text

# A page may legitimately be dated slightly ahead of our clock (embargoed wire
# copy, a source time zone mis-declared by up to 14 h); more than a day ahead is wrong.
FUTURE_TOLERANCE = timedelta(days=1)

# News sites with dated articles appear from the mid-1990s; an earlier
# "published" date on a page we crawl is a template default or a typo.
MIN_PLAUSIBLE_YEAR = 1995

# A byline is a short element ("Release:Chongqing Daily Time:2019-07-19 17:30:36");
# a longer block holding a date is article prose that mentions a date.
BYLINE_MAX_CHARS = 200

# A wire dateline ("BEIJING, June 21, 2024 /PRNewswire/ —") sits this close to
# the start of the first paragraph.
DATELINE_MAX_OFFSET = 60

# How far before a date a label ("Time:", "发布时间：", "Updated") may stand.
LABEL_WINDOW_CHARS = 24

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip

_MONTH_NAME = (
    r"(?P<mname>Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_YEAR = r"(?P<year>(?:19|20)\d{2})"
_TIME = (
    r"(?:(?:\s*(?:,|at|T|@|\||-)\s*|\s*)(?P<ampm_zh>上午|下午)?\s*"
    r"(?P<hour>[01]?\d|2[0-3])\s*[:：时]\s*(?P<minute>[0-5]\d)(?!\d)"
    r"(?:\s*[:：分]\s*(?P<second>[0-5]\d)(?:[.,]\d+)?)?\s*[分秒]?"
    r"(?:\s*(?P<ampm>[AaPp]\.?\s?[Mm]\b\.?))?"
    r"(?:\s*(?P<tz>Z(?![A-Za-z])|(?:UTC|GMT)?\s?[+-](?:0\d|1[0-4]):?[0-5]\d|(?:UTC|GMT)\s?[+-]\d{1,2}(?!\d)|UTC|GMT)"
    r"|\s*\(?(?P<tzname>(?-i:ET|EST|EDT|PT|PST|PDT|BST|CET|CEST|HKT|JST|SGT|KST))\b\)?)?)?"
)
# Zone abbreviations printed after times that name one zone unambiguously.
# "CST" is left out on purpose: it is China Standard Time on Chinese sites and
# US Central time elsewhere, so the source's own zone decides.
_ZONE_ABBREVIATIONS = {
    "ET": "America/New_York",
    "EST": "America/New_York",
    "EDT": "America/New_York",
    "PT": "America/Los_Angeles",
    "PST": "America/Los_Angeles",
    "PDT": "America/Los_Angeles",
    "BST": "Europe/London",
    "CET": "Europe/Paris",
    "CEST": "Europe/Paris",
    "HKT": "Asia/Hong_Kong",
    "JST": "Asia/Tokyo",
    "SGT": "Asia/Singapore",
    "KST": "Asia/Seoul",
}
_DATE_PATTERNS = (
    re.compile(
        r"(?<!\d)" + _YEAR + r"\s*(?:[-/.]|年)\s*(?P<month>\d{1,2})\s*(?:[-/.]|月)\s*"
        r"(?P<day>\d{1,2})(?!\d)\s*日?" + _TIME,
        re.IGNORECASE,
    ),
    re.compile(
        r"\b" + _MONTH_NAME + r"\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+" + _YEAR + r"(?!\d)" + _TIME,
        re.IGNORECASE,
    ),
    re.compile(
        r"(?<!\d)(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTH_NAME + r"\.?,?\s+" + _YEAR + r"(?!\d)" + _TIME,
        re.IGNORECASE,
    ),
)
_URL_DATE = re.compile(
    r"(?<!\d)(?P<year>(?:19|20)\d{2})[-_/]?(?P<month>0[1-9]|1[0-2])[-_/]?(?P<day>0[1-9]|[12]\d|3[01])(?!\d)"
)
_YEAR_HINT = re.compile(r"(?:19|20)\d{2}")

_PUBLISHED_LABEL = re.compile(
    r"(?:publish|posted|release|issued|date|time|发布|发表|时间|日期|来源)[^\d]{0,12}$", re.IGNORECASE
)
_UPDATED_LABEL = re.compile(
    r"(?:updated?|modified|last\s+edited|revised|更新|修改|修订)[^\d]{0,12}$", re.IGNORECASE
)
_DATELINE = re.compile(r"^[A-Z][A-Z .'-]{1,30}(?:\([^)]{1,40}\))?,\s*$")
_NOT_BYLINE = re.compile(r"©|copyright|版权|icp备|all rights reserved", re.IGNORECASE)

# Meta keys, most trusted first (lowercased name / property / itemprop).
PUBLISHED_META_KEYS = (
    "article:published_time",
    "og:article:published_time",
    "datepublished",
    "article:published",
    "og:published_time",
    "published_time",
    "publishdate",
    "publish_date",
    "publish-date",
    "pubdate",
    "publishtime",
    "publication_date",
    "firstpublishedtime",
    "sailthru.date",
    "parsely-pub-date",
    "dc.date.issued",
    "dcterms.issued",
    "dc.date.created",
    "dcterms.created",
    "datecreated",
    "dc.date",
    "dcterms.date",
    "date",
)
UPDATED_META_KEYS = (
    "article:modified_time",
    "og:updated_time",
    "datemodified",
    "article:updated_time",
    "dc.date.modified",
    "dcterms.modified",
    "lastmodifiedtime",
    "last-modified",
    "lastmod",
)
# Other meta names that hold the publication time ("cXenseParse:recs:publishtime",
# "pub_date", "dcsext.articleFirstPublished"), read after the known keys; never
# "publisher" or "publication name".
_PUBLISHED_META_NAME = re.compile(
    r"(?:^|[:._ -])(?:article)?(?:first|original)?(?:pub|publish|published|publication)(?:[_.-]?(?:date|time|at))?$"
)
_ARTICLE_TYPES = re.compile(r"Article|Posting|Report|Release", re.IGNORECASE)


@dataclass(frozen=True)
class DateCandidate:
    """One date found on a page, already converted to UTC."""

    raw: str
    value: datetime  # UTC, tz-aware
    precision: str  # what the page shows: "day", "minute" or "second"
    source: str  # "selector", "meta", "jsonld", "time", "byline", "dateline", "url", "htmldate"
    zone: str  # IANA name used for a naive time, or the explicit offset ("+08:00")
    zoned: bool = False  # the text itself named the offset or zone

    @property
    def has_time(self) -> bool:
        """True when the page gave the time of day, not only the date."""
        return self.precision != "day"


@dataclass(frozen=True)
class ArticleDates:
    """The dates an extractor stores for one article."""

    published_at: datetime | None = None
    published_raw: str | None = None
    date_source: str | None = None  # where the publication date was found (meta, jsonld, byline, url ...)
    published_precision: str | None = None  # "day", "minute" or "second"
    updated_at: datetime | None = None
    updated_raw: str | None = None
    date_flag: str | None = None  # "future" / "before_site"
    date_timezone: str | None = None  # zone a naive date was read in (IANA), or the offset the page gave
    warnings: tuple[str, ...] = field(default=())


def source_zone(name: str) -> ZoneInfo:
    """The ZoneInfo for a source's declared time zone; ValueError naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (expected an IANA name such as 'Asia/Shanghai')") from exc


def parse_date(text: str, zone: tzinfo, zone_name: str | None = None) -> DateCandidate | None:
    """The first date (with time of day and offset when present) in text, as a UTC candidate."""
    found = find_all_dates(text, zone, zone_name)
    return found[0][1] if found else None


def date_span(text: str) -> tuple[int, int] | None:
    """Where the first date expression (with its time, if any) sits in text."""
    if not _YEAR_HINT.search(text):
        return None
    spans = [(m.start(), m.end()) for p in _DATE_PATTERNS if (m := p.search(text))]
    return min(spans, key=lambda span: (span[0], -span[1])) if spans else None


def find_all_dates(
    text: str, zone: tzinfo, zone_name: str | None = None, source: str = "text"
) -> list[tuple[int, DateCandidate]]:
    """Every date expression in text as (start offset, candidate), in reading order."""
    if not _YEAR_HINT.search(text):
        return []
    zone_name = zone_name or str(zone)
    hits: list[tuple[int, int, DateCandidate]] = []
    for pattern in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            candidate = _candidate(match, zone, zone_name, source)
            if candidate is not None:
                hits.append((match.start(), match.end(), candidate))
    hits.sort(key=lambda hit: (hit[0], -hit[1]))
    result: list[tuple[int, DateCandidate]] = []
    last_end = -1
    for start, end, candidate in hits:
        if start >= last_end:
            result.append((start, candidate))
            last_end = end
    return result


def _candidate(match: re.Match[str], zone: tzinfo, zone_name: str, source: str) -> DateCandidate | None:
    parts = match.groupdict()
    month = _MONTHS[parts["mname"][:3].lower()] if parts.get("mname") else int(parts["month"])
    hour = int(parts["hour"]) if parts["hour"] else 0
    minute = int(parts["minute"]) if parts["minute"] else 0
    second = int(parts["second"]) if parts["second"] else 0
    ampm = (parts["ampm"] or "").lower().replace(".", "").replace(" ", "")
    if ampm or parts["ampm_zh"]:
        if hour > 12:
            return None
        afternoon = ampm == "pm" or parts["ampm_zh"] == "下午"
        hour = hour % 12 + (12 if afternoon else 0)
    try:
        naive = datetime(int(parts["year"]), month, int(parts["day"]), hour, minute, second)
    except ValueError:
        return None  # 2021-02-30 and the like: not a date
    offset = _offset(parts["tz"]) if parts["tz"] else None
    if parts["tzname"]:
        named = _ZONE_ABBREVIATIONS[parts["tzname"].upper()]
        aware = naive.replace(tzinfo=ZoneInfo(named))
        used = named
    elif offset is not None:
        aware = naive.replace(tzinfo=offset)
        used = _offset_name(offset)
    else:
        aware = naive.replace(tzinfo=zone)
        used = zone_name
    raw = match.group(0).strip(" ,|-@")
    precision = "day" if parts["hour"] is None else "minute" if parts["second"] is None else "second"
    zoned = bool(parts["tz"] or parts["tzname"])
    return DateCandidate(raw, aware.astimezone(UTC), precision, source, used, zoned)


def _offset(tz_text: str) -> timezone | None:
    text = tz_text.upper().replace("UTC", "").replace("GMT", "").replace(" ", "")
    if text in ("", "Z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = (int(digits[:-2]), int(digits[-2:])) if len(digits) > 2 else (int(digits), 0)
    if hours > 14 or minutes > 59:
        return None
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _offset_name(offset: tzinfo) -> str:
    delta = offset.utcoffset(None) or timedelta(0)
    if not delta:
        return "UTC"
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def url_date(url: str, zone: tzinfo, zone_name: str | None = None) -> DateCandidate | None:
    """A date written into the URL path (/2021/0319/, /2021-03-19/, /20210319/), day precision."""
    path = url.split("://", 1)[-1].split("?", 1)[0]
    path = path[path.find("/") :] if "/" in path else ""
    for match in _URL_DATE.finditer(path):
        try:
            naive = datetime(int(match["year"]), int(match["month"]), int(match["day"]))
        except ValueError:
            continue
        value = naive.replace(tzinfo=zone).astimezone(UTC)
        return DateCandidate(match.group(0), value, "day", "url", zone_name or str(zone))
    return None


def find_dates(
    tree: HtmlElement,
    url: str,
    *,
    zone_name: str = "UTC",
    founded_year: int | None = None,
    date_selector: str | None = None,
    headline: HtmlElement | None = None,
    meta: dict[str, list[str]] | None = None,
    jsonld: list[dict[str, Any]] | None = None,
    now: datetime | None = None,
    html_text: str | None = None,
    second_opinion: Callable[[HtmlElement | str, str, datetime, datetime], date | None] | None = None,
) -> ArticleDates:
    """Published and updated dates of a parsed page (scripts may already be stripped if jsonld is given).

    second_opinion (default: htmldate's original date) is asked for a day only
    when the page has no strong evidence of its own; it reads html_text (the
    decoded page as served) when given, else the tree.
    """
    zone = source_zone(zone_name)
    meta = meta if meta is not None else {}
    jsonld = jsonld if jsonld is not None else jsonld_objects(tree)
    now = now or datetime.now(UTC)
    earliest, latest = _plausible_range(founded_year, now)
    published: list[DateCandidate] = []
    updated: list[DateCandidate] = []

    if date_selector:
        text = select_text(tree, date_selector)
        found = parse_date(text, zone, zone_name) if text else None
        if found:
            published.append(_with_source(found, "selector"))

    structured_pub, structured_upd = _structured_dates(tree, meta, jsonld, zone, zone_name)
    bylines = _byline_dates(tree, headline, zone, zone_name)
    zoned = [_local_offset(found, bylines.published, zone) for found in structured_pub if found.zoned]
    naive = [found for found in structured_pub if not found.zoned]
    published += zoned + bylines.near
    weaker = _refine_with_time(naive, bylines.published, zone) + bylines.published
    from_url = url_date(url, zone, zone_name)
    if from_url:
        weaker.append(from_url)
    if not any(_implausible(found, earliest, latest) is None for found in published):
        opinion = (second_opinion or htmldate_day)(html_text if html_text is not None else tree, url, earliest, latest)
        weaker = _confirmed_by(opinion, weaker, zone, zone_name) + weaker
    published += weaker
    updated += _refine_with_time(structured_upd, bylines.updated, zone) + bylines.updated

    return _choose(published, updated, zone_name, earliest, latest)


def htmldate_day(page: HtmlElement | str, url: str, earliest: datetime, latest: datetime) -> date | None:
    """htmldate's original (publication, not modification) date of a page, within the plausible range.

    Its quick search first (markup, then date patterns in the text); the
    extensive search, which weighs every text segment and can take most of a
    second on a long page full of dates, only when the quick one finds nothing.
    """
    bounds = {"min_date": earliest.replace(tzinfo=None), "max_date": latest.replace(tzinfo=None)}
    found = htmldate.find_date(page, url=url or None, original_date=True, extensive_search=False, **bounds)
    if not found:  # the extensive search reads every text segment: costly on long pages, so only when needed
        found = htmldate.find_date(page, url=url or None, original_date=True, extensive_search=True, **bounds)
    try:
        return date.fromisoformat(found) if found else None
    except ValueError:
        return None


def _confirmed_by(
    day: date | None, candidates: list[DateCandidate], zone: tzinfo, zone_name: str
) -> list[DateCandidate]:
    """What a second opinion's day adds in front of our weaker candidates.

    Our candidate on that local day when there is one (a timed one first: it keeps
    the time and the raw string); else the day itself at day precision, except a
    1 January that nothing of ours shows (the year of a copyright line, not a date).
    """
    if day is None:
        return []
    same_day = [found for found in candidates if found.value.astimezone(zone).date() == day]
    if same_day:
        return [next((found for found in same_day if found.has_time), same_day[0])]
    if (day.month, day.day) == (1, 1):
        return []
    value = datetime.combine(day, datetime.min.time()).replace(tzinfo=zone).astimezone(UTC)
    return [DateCandidate(day.isoformat(), value, "day", "htmldate", zone_name)]


# A byline's wall-clock time and a UTC metadata time of the same moment differ by
# a UTC offset in use: whole hours up to 14, or one of the few half / quarter hours.
_MAX_OFFSET = timedelta(hours=14)
_PART_HOUR_OFFSETS = frozenset(
    timedelta(hours=h, minutes=m) * sign
    for sign, h, m in (
        (-1, 9, 30), (-1, 3, 30), (-1, 2, 30), (1, 3, 30), (1, 4, 30), (1, 5, 30),
        (1, 5, 45), (1, 6, 30), (1, 8, 45), (1, 9, 30), (1, 10, 30), (1, 12, 45),
    )
)  # fmt: skip


def _local_offset(found: DateCandidate, bylines: list[DateCandidate], zone: tzinfo) -> DateCandidate:
    """A UTC metadata time with the page's own offset, read from a byline showing the same minute locally.

    ("2020-02-25T02:25:54Z" in metadata and "February 24, 2020 | 9:25pm" in the
    byline: the page's local time is UTC-05:00, and its local day the 24th.)
    """
    if found.zone != "UTC" or not found.has_time:
        return found
    instant = found.value.replace(second=0, microsecond=0, tzinfo=None)
    for byline in bylines:
        if byline.zoned or not byline.has_time:
            continue
        wall = byline.value.astimezone(zone).replace(second=0, microsecond=0, tzinfo=None)
        offset = wall - instant
        whole_hours = offset % timedelta(hours=1) == timedelta(0)
        if offset and abs(offset) <= _MAX_OFFSET and (whole_hours or offset in _PART_HOUR_OFFSETS):
            return replace(found, zone=_offset_name(timezone(offset)))
    return found


def _with_source(candidate: DateCandidate, source: str) -> DateCandidate:
    return replace(candidate, source=source)


def _structured_dates(
    tree: HtmlElement,
    meta: dict[str, list[str]],
    jsonld: list[dict[str, Any]],
    zone: tzinfo,
    zone_name: str,
) -> tuple[list[DateCandidate], list[DateCandidate]]:
    published: list[DateCandidate] = []
    updated: list[DateCandidate] = []
    known = frozenset(PUBLISHED_META_KEYS) | frozenset(UPDATED_META_KEYS)
    other_published = [key for key in meta if key not in known and _PUBLISHED_META_NAME.search(key)]
    for keys, out in ((PUBLISHED_META_KEYS + tuple(other_published), published), (UPDATED_META_KEYS, updated)):
        for key in keys:
            for value in meta.get(key, ()):
                found = parse_date(value, zone, zone_name)
                if found:
                    out.append(_with_source(found, "meta"))
    articles = [obj for obj in jsonld if _ARTICLE_TYPES.search(str(obj.get("@type", "")))]
    for obj in articles or jsonld:
        for key, out in (("datePublished", published), ("dateCreated", published), ("dateModified", updated)):
            value = obj.get(key)
            found = parse_date(value, zone, zone_name) if isinstance(value, str) else None
            if found:
                out.append(_with_source(found, "jsonld"))
    for element in _DATED_ELEMENTS(tree):
        value = element.get("datetime") or element.get("content") or normalize_space(element.text_content())
        found = parse_date(value, zone, zone_name) if value else None
        if not found:
            continue
        is_updated = element.get("itemprop") == "dateModified" or "updat" in (element.get("class") or "").lower()
        (updated if is_updated else published).append(_with_source(found, "time"))
    return published, updated


_DATED_ELEMENTS = etree.XPath(
    "//*[@itemprop='datePublished' or @itemprop='dateModified'][not(self::meta)]|//time[@datetime or @pubdate]"
)


def _refine_with_time(
    structured: list[DateCandidate], bylines: list[DateCandidate], zone: tzinfo
) -> list[DateCandidate]:
    """Put first a byline that shows the time of day on the same local day as a date-only metadata value."""
    if not structured or structured[0].has_time:
        return structured
    day = structured[0].value.astimezone(zone).date()
    for byline in bylines:
        if byline.has_time and byline.value.astimezone(zone).date() == day:
            return [byline, *structured]
    return structured


@dataclass(frozen=True)
class Bylines:
    """Dates shown in bylines: published and updated, best first, and the published ones that are
    strong evidence (labelled or timed, after the headline or on a page without one; a wire dateline)."""

    published: list[DateCandidate]
    updated: list[DateCandidate]
    near: list[DateCandidate]


def _byline_dates(tree: HtmlElement, headline: HtmlElement | None, zone: tzinfo, zone_name: str) -> Bylines:
    """Dates shown in short byline elements, best first: after the headline, labelled or timed, earliest."""
    found: list[tuple[HtmlElement, DateCandidate, bool, bool]] = []  # element, date, is_updated, strong
    seen: set[HtmlElement] = set()
    root = tree.find("body")
    for text_node in _YEAR_CANDIDATE_NODES(root if root is not None else tree):
        if not _YEAR_HINT.search(text_node):
            continue
        owner = text_node.getparent()
        if owner is None or _in_link_list(owner):
            continue
        element = _byline_element(owner.getparent() if text_node.is_tail else owner, seen)
        if element is None:
            continue
        text = normalize_space(element.text_content())
        if _NOT_BYLINE.search(text):
            continue
        dates = find_all_dates(text, zone, zone_name, "byline")
        dates = dates if len(text) <= BYLINE_MAX_CHARS else _dateline(text, dates)
        for start, candidate in dates:
            before = text[max(0, start - LABEL_WINDOW_CHARS) : start]
            is_updated = bool(_UPDATED_LABEL.search(before))
            labelled = is_updated or bool(_PUBLISHED_LABEL.search(before)) or candidate.source == "dateline"
            strong = labelled or candidate.has_time
            if strong or len(candidate.raw) * 2 >= len(text):  # else: a short sentence mentioning a date
                found.append((element, candidate, is_updated, strong))
    if not found:
        return Bylines([], [], [])
    order = _positions(tree, [element for element, *_ in found] + ([headline] if headline is not None else []))
    headline_at = order.get(headline, -1) if headline is not None else -1
    around_headline = set(headline.iterancestors()) if headline is not None else set()

    def after_headline(item: tuple[HtmlElement, DateCandidate, bool, bool]) -> bool:
        """After the headline, or in the small block holding it (a header with the headline and its byline)."""
        return headline is None or 0 <= headline_at < order.get(item[0], 0) or item[0] in around_headline

    def rank(item: tuple[HtmlElement, DateCandidate, bool, bool]) -> tuple[bool, bool, int]:
        return (not after_headline(item), not item[3], order.get(item[0], 0))

    found.sort(key=rank)
    published = [candidate for _, candidate, is_updated, _ in found if not is_updated]
    updated = [candidate for _, candidate, is_updated, _ in found if is_updated]
    near = [
        item[1]
        for item in found
        if not item[2] and item[3] and (after_headline(item) or item[1].source == "dateline")
    ]
    return Bylines(published, updated, near)


# Text nodes that may hold a year: a plain-XPath prefilter (an EXSLT regex
# test per text node costs three times as much); _YEAR_HINT decides.
_YEAR_CANDIDATE_NODES = etree.XPath(".//text()[contains(., '19') or contains(., '20')]")


def _positions(tree: HtmlElement, elements: list[HtmlElement]) -> dict[HtmlElement, int]:
    """Document-order index of each element, walking the tree only as far as the last of them."""
    wanted = set(elements)
    positions: dict[HtmlElement, int] = {}
    for index, element in enumerate(tree.iter()):
        if element in wanted:
            positions[element] = index
            if len(positions) == len(wanted):
                break
    return positions


def _byline_element(start: HtmlElement | None, seen: set[HtmlElement]) -> HtmlElement | None:
    """The largest element from start upwards whose text is still byline-sized (None if already seen)."""
    if start is None or start.tag in ("html", "body", "a"):
        return None
    element, parent = start, start.getparent()
    while parent is not None and parent.tag not in ("body", "html"):
        if len(parent.text_content()) > BYLINE_MAX_CHARS:
            break
        element, parent = parent, parent.getparent()
    if element in seen:
        return None
    seen.add(element)
    return element


def _in_link_list(element: HtmlElement) -> bool:
    """True for dates inside link lists (related news, sidebars), which date other articles."""
    for ancestor in element.iterancestors():
        if ancestor.tag in ("a", "li", "nav", "footer", "aside", "option", "dd"):
            return True
        if ancestor.tag in ("article", "main", "body"):
            return False
    return element.tag in ("a", "li", "option")


def _dateline(text: str, dates: list[tuple[int, DateCandidate]]) -> list[tuple[int, DateCandidate]]:
    """Keep a wire dateline date ("BEIJING, June 21, 2024 /PRNewswire/") at the start of a paragraph."""
    if dates and dates[0][0] <= DATELINE_MAX_OFFSET and _DATELINE.match(text[: dates[0][0]]):
        start, candidate = dates[0]
        return [(start, _with_source(candidate, "dateline"))]
    return []


_METADATA_SOURCES = frozenset({"meta", "jsonld", "time"})


def _plausible_range(founded_year: int | None, now: datetime) -> tuple[datetime, datetime]:
    earliest = datetime(max(MIN_PLAUSIBLE_YEAR, founded_year or MIN_PLAUSIBLE_YEAR), 1, 1, tzinfo=UTC)
    return earliest, now + FUTURE_TOLERANCE


def _choose(
    published: list[DateCandidate],
    updated: list[DateCandidate],
    zone_name: str,
    earliest: datetime,
    latest: datetime,
) -> ArticleDates:
    warnings: list[str] = []
    chosen: DateCandidate | None = None
    rejected: list[tuple[DateCandidate, str]] = []
    for candidate in published:
        flag = _implausible(candidate, earliest, latest)
        if flag is None:
            chosen = candidate
            break
        rejected.append((candidate, flag))
    reported = list(rejected)
    if chosen is not None:  # implausible metadata is reported even when stronger evidence came first
        for candidate in published[len(rejected) + 1 :]:
            if candidate.source in _METADATA_SOURCES and (flag := _implausible(candidate, earliest, latest)):
                reported.append((candidate, flag))
    for candidate, flag in reported:
        warnings.append(f"ignored implausible {candidate.source} date {candidate.raw!r} ({flag})")
    upd = next((c for c in updated if _implausible(c, earliest, latest) is None), None)
    if chosen is not None and upd is not None and upd.value < chosen.value:
        upd = None  # an "updated" date before the publication date is a template artefact
    if chosen is None:
        flagged = rejected[0] if rejected else None
        return ArticleDates(
            published_raw=flagged[0].raw if flagged else None,
            date_source=flagged[0].source if flagged else None,
            published_precision=flagged[0].precision if flagged else None,
            updated_at=upd.value if upd else None,
            updated_raw=upd.raw if upd else None,
            date_flag=flagged[1] if flagged else None,
            date_timezone=flagged[0].zone if flagged else zone_name,
            warnings=tuple(warnings),
        )
    return ArticleDates(
        published_at=chosen.value,
        published_raw=chosen.raw,
        date_source=chosen.source,
        published_precision=chosen.precision,
        updated_at=upd.value if upd else None,
        updated_raw=upd.raw if upd else None,
        date_timezone=chosen.zone,
        warnings=tuple(warnings),
    )


def _implausible(candidate: DateCandidate, earliest: datetime, latest: datetime) -> str | None:
    if candidate.value > latest:
        return "future"
    # Compare on the local calendar year so a 1 January local date is not "before" the site.
    if candidate.value + timedelta(days=1) < earliest:
        return "before_site"
    return None
