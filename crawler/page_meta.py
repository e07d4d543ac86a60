"""Headline, canonical URL and author of an article page.

The headline is the page's visible heading that matches its <title> / og:title;
failing that, the og:title or <title> with the site name cut off
(" - Site", " | Site", "_网站名").
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import urljoin

from lxml.html import HtmlElement

from crawler.htmltree import node_text, normalize_space, select

# Separators between a headline and the site / section name in <title>, in
# the order they are tried: the first kind present splits the title, so
# "Expo: Robots - and People | CQ News" splits at "|" only. A bare hyphen
# needs spaces around it (it also joins words: "Smart-city"); "_" and the
# full-width bar are used without spaces on Chinese sites. Colons are not
# separators: headlines use them ("Expo: ...").
_TITLE_SEPARATORS = (
    re.compile(r"\s*[|｜]\s*"),
    re.compile(r"\s*_\s*"),
    re.compile(r"\s+[-–—]\s+|\s*(?:——|－{1,2}|-{2,})\s*"),
    re.compile(r"\s+[»·]\s+"),
)

# A segment this much shorter than the longest is a site or section name
# ("Home | The long headline ..."), not the headline.
SITE_SEGMENT_RATIO = 0.5

# A heading matches the title when it covers this much of it (the rest is a
# site name, a kicker or punctuation).
HEADING_MATCH_RATIO = 0.6

# Headings longer than this are paragraphs styled as headings.
MAX_TITLE_CHARS = 300

_TITLE_CLASS = re.compile(r"(?:^|[\s_-])(?:title|headline|biaoti|tit)(?:$|[\s_-])", re.IGNORECASE)


def find_title(
    tree: HtmlElement,
    meta: dict[str, list[str]],
    jsonld: list[dict[str, Any]],
    title_selector: str | None = None,
) -> tuple[str | None, HtmlElement | None]:
    """The headline text and, when found on the page, its element (the anchor for bylines)."""
    headings = _headings(tree)
    if title_selector:
        for hit in select(tree, title_selector):
            text = normalize_space(hit) if isinstance(hit, str) else node_text(hit) if isinstance(hit, HtmlElement) else ""
            if text:
                element = hit if isinstance(hit, HtmlElement) else None
                return text, element
    site_names = _site_names(meta, jsonld)
    references = [
        strip_site_name(value, site_names)
        for value in (*meta.get("og:title", ()), *meta.get("twitter:title", ()), _document_title(tree))
        if value
    ]
    references = [ref for ref in references if ref]
    # A heading matches the cleaned title, or covers most of a raw one (for
    # headlines that themselves contain a separator).
    raw_titles = [*meta.get("og:title", ()), _document_title(tree) or ""]
    for element, text in headings:
        if any(_matches(text, ref) for ref in (*references, *raw_titles)):
            return text, element
    first_h1 = next(((el, text) for el, text in headings if el.tag == "h1"), None)
    if references:
        return references[0], first_h1[0] if first_h1 else None
    if first_h1:
        return first_h1[1], first_h1[0]
    return None, None


def strip_site_name(title: str, site_names: tuple[str, ...] = ()) -> str:
    """A <title> without its site / section segments."""
    title = normalize_space(title)
    for separator in _TITLE_SEPARATORS:
        segments = [seg for seg in separator.split(title) if seg.strip()]
        if len(segments) >= 2:
            break
    else:
        return title
    known = {_key(name) for name in site_names}
    kept = [seg for seg in segments if _key(seg) not in known] or segments
    if len(kept) == 1:
        return kept[0].strip()
    longest = max(kept, key=len)
    first = kept[0]
    return (first if len(first) >= SITE_SEGMENT_RATIO * len(longest) else longest).strip()


def find_canonical_url(tree: HtmlElement, meta: dict[str, list[str]], url: str) -> str | None:
    """rel=canonical, else og:url, resolved against the page URL."""
    for link in tree.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        href = (link.get("href") or "").strip()
        if "canonical" in rel and href:
            return urljoin(url, href)
    og_url = meta.get("og:url")
    return urljoin(url, og_url[0]) if og_url else None


def find_author(meta: dict[str, list[str]], jsonld: list[dict[str, Any]]) -> str | None:
    """The author named in meta tags or JSON-LD (not a profile URL)."""
    for key in ("author", "article:author", "dc.creator", "byl", "sailthru.author", "parsely-author"):
        for value in meta.get(key, ()):
            value = normalize_space(value)
            if value and "://" not in value:
                return value.removeprefix("By ").removeprefix("by ")
    for obj in jsonld:
        names = [_person_name(item) for item in _as_list(obj.get("author"))]
        names = [name for name in names if name]
        if names:
            return ", ".join(names)
    return None


def _person_name(item: Any) -> str | None:
    if isinstance(item, str):
        return normalize_space(item) or None
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        return normalize_space(item["name"]) or None
    return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _headings(tree: HtmlElement) -> list[tuple[HtmlElement, str]]:
    """Headline-like elements in a preferred order: h1, then h2/h3, then elements classed as titles."""
    body = tree.find("body")
    if body is None:
        return []
    found: list[tuple[HtmlElement, str]] = []
    for path in (".//h1", ".//h2|.//h3", ".//*[contains(@class,'tit') or contains(@id,'tit')]"):
        for element in body.xpath(path):
            if path.startswith(".//*") and not _TITLE_CLASS.search(f"{element.get('class', '')} {element.get('id', '')}"):
                continue
            text = node_text(element)
            if text and len(text) <= MAX_TITLE_CHARS:
                found.append((element, text))
    return found


def _document_title(tree: HtmlElement) -> str | None:
    element = tree.find(".//title")
    return node_text(element) if element is not None else None


def _site_names(meta: dict[str, list[str]], jsonld: list[dict[str, Any]]) -> tuple[str, ...]:
    names = [*meta.get("og:site_name", ()), *meta.get("application-name", ())]
    for obj in jsonld:
        publisher = obj.get("publisher")
        if isinstance(publisher, dict) and isinstance(publisher.get("name"), str):
            names.append(publisher["name"])
        if obj.get("@type") == "WebSite" and isinstance(obj.get("name"), str):
            names.append(obj["name"])
    return tuple(names)


def _key(text: str) -> str:
    """Comparison key: case-folded letters and digits only."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if ch.isalnum())


def _matches(heading: str, reference: str) -> bool:
    a, b = _key(heading), _key(reference)
    if not a or not b:
        return False
    if a == b:
        return True
    shorter, longer = (a, b) if len(a) <= len(b) else (b, a)
    return shorter in longer and len(shorter) >= HEADING_MATCH_RATIO * len(longer)
