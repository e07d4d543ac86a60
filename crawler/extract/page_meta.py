"""Headline, canonical URL and author of an article page.

The headline is the page's visible heading that matches a segment of its
<title> / og:title; failing that, the og:title or <title> with the site name
cut off (" - Site", " | Site", "_网站名"). Logo headings (a heading that is
only a link to the homepage) and declared site names are never headlines.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import etree
from lxml.html import HtmlElement

from crawler.extract.htmltree import alnum_only, node_text, normalize_space, select

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
    """The headline text and, when found on the page, its element (the anchor for bylines).

    In order: the source's title selector; a heading equal to a segment of
    <title> / og:title (when several segments have one, the one repeated least
    on the page: site names recur in the logo and footer, headlines do not;
    ties go to the earlier segment); a heading covering most of a title (less
    a short site suffix of its own the titles lack); the cleaned og:title /
    <title>; the first heading.
    """
    if title_selector:
        for hit in select(tree, title_selector):
            if isinstance(hit, HtmlElement) and (text := node_text(hit)):
                return text, hit
            if isinstance(hit, str) and (text := normalize_space(hit)):
                return text, None
    raw_titles = [t for t in (*meta.get("og:title", ()), *meta.get("twitter:title", ()), _document_title(tree)) if t]
    site_names = _site_names(meta, jsonld)
    headings = _headings(tree)
    not_titles = {_key(name) for name in site_names} | {_key(text) for el, text in headings if _is_logo(el)}
    headings = [(el, text) for el, text in headings if _key(text) not in not_titles]
    by_key: dict[str, tuple[HtmlElement, str]] = {}
    for element, text in headings:
        by_key.setdefault(_key(text), (element, text))

    segments = [seg for raw in raw_titles for seg in split_title(raw)]
    exact = [(index, seg) for index, seg in enumerate(segments) if _key(seg) in by_key]
    if exact:
        best = exact[0][1] if len(exact) == 1 else _least_repeated(tree, exact)
        element, text = by_key[_key(best)]
        return text, element

    references = [choose_headline(split_title(raw), site_names) for raw in raw_titles]
    for element, text in headings:
        if any(_matches(text, ref) for ref in (*references, *raw_titles)):
            return _without_site_suffix(text, segments, raw_titles), element
    references = [ref for ref in references if ref and _key(ref) not in not_titles]
    anchor = headings[0] if headings else None
    if references:
        return references[0], anchor[0] if anchor else None
    return (anchor[1], anchor[0]) if anchor else (None, None)


def _without_site_suffix(heading: str, segments: list[str], raw_titles: list[str]) -> str:
    """A heading less a short trailing part the titles lack ("Headline | OTHER.NAME" with a hidden span),
    when what is left is a segment of a title."""
    parts = split_title(heading)
    if len(parts) != 2:
        return heading
    headline, suffix = parts
    title_keys = " ".join(_key(raw) for raw in raw_titles)
    if (
        _key(headline) in {_key(seg) for seg in segments}
        and _key(suffix) not in title_keys
        and len(suffix) < SITE_SEGMENT_RATIO * len(headline)
    ):
        return headline
    return heading


def _least_repeated(tree: HtmlElement, segments: list[tuple[int, str]]) -> str:
    """The title segment found least often in the page text (the earlier one on a tie)."""
    body = tree.find("body")
    page_text = body.text_content() if body is not None else ""
    _, best = min(segments, key=lambda item: (page_text.count(item[1]), item[0]))
    return best


def split_title(title: str) -> list[str]:
    """The segments of a <title>, split at the first kind of separator it uses."""
    title = normalize_space(title)
    for separator in _TITLE_SEPARATORS:
        segments = [seg.strip() for seg in separator.split(title) if seg.strip()]
        if len(segments) >= 2:
            return segments
    return [title] if title else []


def choose_headline(segments: list[str], site_names: tuple[str, ...] = ()) -> str:
    """The headline among title segments: not a known site name; the first unless it is much shorter."""
    if not segments:
        return ""
    known = {_key(name) for name in site_names}
    kept = [seg for seg in segments if _key(seg) not in known] or segments
    longest = max(kept, key=len)
    first = kept[0]
    return first if len(first) >= SITE_SEGMENT_RATIO * len(longest) else longest


def _is_logo(element: HtmlElement) -> bool:
    """A heading that is just a link to the homepage: the site's logo, not a headline."""
    links = list(element.iter("a"))
    if len(links) != 1 or node_text(links[0]) != node_text(element):
        return False
    target = urlsplit(links[0].get("href") or "")
    return not target.query and target.path in _HOME_PATHS


_HOME_PATHS = frozenset({"", "/", "./", "index.html", "index.htm", "/index.html", "/index.htm", "/index.shtml"})


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
    """Headline-like elements in a preferred order: h1, then elements classed as titles, then h2/h3."""
    body = tree.find("body")
    if body is None:
        return []
    found: list[tuple[HtmlElement, str]] = []
    for query in _HEADING_QUERIES:
        for element in query(body):
            if query is _TITLED and not _TITLE_CLASS.search(f"{element.get('class', '')} {element.get('id', '')}"):
                continue
            text = node_text(element)
            if text and len(text) <= MAX_TITLE_CHARS:
                found.append((element, text))
    return found


_TITLED = etree.XPath(".//*[contains(@class,'tit') or contains(@id,'tit')]")
_HEADING_QUERIES = (etree.XPath(".//h1"), _TITLED, etree.XPath(".//h2|.//h3"))


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
    return alnum_only(text)


def _matches(heading: str, reference: str) -> bool:
    a, b = _key(heading), _key(reference)
    if not a or not b:
        return False
    if a == b:
        return True
    shorter, longer = (a, b) if len(a) <= len(b) else (b, a)
    return shorter in longer and len(shorter) >= HEADING_MATCH_RATIO * len(longer)
