"""Article extraction: raw HTML bytes in, a plain ExtractedArticle out.

Pure function over plain data, built on trafilatura; no Scrapy import here.
The page is decoded once (crawler.extract.encoding) and parsed once; headline, dates,
canonical URL and page signals are read from that tree, page furniture is
removed from it, and trafilatura extracts the text from it (it works on its
own copy). Time limits per document are enforced by crawler.extraction_pool.
"""

from __future__ import annotations

from copy import copy, deepcopy
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from functools import lru_cache

import trafilatura
from trafilatura.settings import Extractor
from lxml.html import HtmlElement

from crawler.extract import boilerplate, quality, widgets
from crawler.extract.dates import ArticleDates, find_dates, source_zone
from crawler.extract.encoding import decode_html
from crawler.extract.htmltree import (
    jsonld_objects,
    link_share,
    meta_values,
    node_text,
    parse_html,
    select,
    strip_non_text,
)
from crawler.extract.language import detect_language, text_words
from crawler.extract.page_meta import find_author, find_canonical_url, find_title

# Bump when a change alters what is extracted from the same bytes, so stored
# articles can be re-extracted (`expowatch reextract`).
EXTRACTOR_VERSION = "1.2"

# trafilatura's fallback comparison (readability, then justext) costs as much
# again as its own extractor and can only change the result when that came back
# short. So the fast pass runs alone, and the full cascade only when its text is
# below an article's minimum length (quality.MIN_ARTICLE_WORDS) or below this
# share of the words the page shows: an article page rarely carries three times
# the article's length in menus and link lists, so less suggests a missed part.
FULL_CASCADE_BELOW_PAGE_SHARE = 0.25
# ... and when it is almost all short lines (a menu or a list of links came back
# instead of the story); the full cascade's text is kept if it has more prose.
FULL_CASCADE_BELOW_PROSE_SHARE = 0.2

# Block elements that end a line when a body selector's text is read directly.
_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "blockquote", "pre", "table", "ul", "ol", "figcaption"}
)  # fmt: skip


@dataclass(frozen=True)
class ExtractionHints:
    """What a source declaration tells the extractor about its pages.

    Selectors are CSS, or XPath when they start with "/" or "(".
    drop_selectors remove elements before extraction; drop_phrases remove text
    lines containing them. timezone (IANA) is used for dates shown without one.
    """

    language: str | None = None
    timezone: str = "UTC"
    title_selector: str | None = None
    date_selector: str | None = None
    body_selector: str | None = None
    drop_selectors: tuple[str, ...] = ()
    drop_phrases: tuple[str, ...] = ()
    founded_year: int | None = None


@dataclass
class ExtractedArticle:
    """The one article type: what extraction finds on a page, and what everything downstream maps from.

    The store writes every field that names a column of articles (storage.models.EXTRACTED_COLUMNS),
    re-extraction rewrites them, export and show read them back under the same names: a new
    field needs this field, the model's column and a migration.
    """

    url: str
    title: str | None
    text: str
    published_at: datetime | None = None  # UTC, tz-aware
    published_raw: str | None = None  # the date as written on the page / in its metadata
    updated_at: datetime | None = None  # UTC, tz-aware
    updated_raw: str | None = None
    date_flag: str | None = None  # "future" / "before_site": published_raw kept, published_at None
    date_source: str | None = None  # "selector", "meta", "jsonld", "time", "byline", "dateline", "url", "htmldate"
    published_precision: str | None = None  # what the page shows: "day" (midnight local), "minute", "second"
    date_timezone: str | None = None  # zone a naive date was read in (IANA), or the offset the page gave
    language: str | None = None
    author: str | None = None
    canonical_url: str | None = None  # rel=canonical / og:url as found on the page
    encoding: str | None = None  # codec the bytes were decoded with
    encoding_source: str | None = None  # "bom", "meta", "http", "utf-8-valid", "detected", "fallback", "ascii"
    skip_reason: str | None = None  # set when the page is not an article (see crawler.extract.quality)
    extractor_version: str = EXTRACTOR_VERSION
    warnings: list[str] = field(default_factory=list)

    def to_json_dict(self) -> dict:
        """A JSON-ready dict (datetimes as ISO 8601 strings)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
        return out


def extract_article(
    html: bytes,
    url: str,
    *,
    http_charset: str | None = None,
    hints: ExtractionHints | None = None,
) -> ExtractedArticle:
    """Extract title, text, dates and language from one page's raw bytes.

    Never raises for bad pages (they come back with skip_reason set); raises
    ValueError naming the URL for bad hints (unknown time zone, invalid selector).
    """
    hints = hints or ExtractionHints()
    try:
        return _extract(html, url, http_charset, hints)
    except ValueError as exc:  # bad hints: unknown time zone, invalid selector
        raise ValueError(f"{url}: {exc}") from exc


def _extract(html: bytes, url: str, http_charset: str | None, hints: ExtractionHints) -> ExtractedArticle:
    source_zone(hints.timezone)
    if len(html) > quality.MAX_HTML_BYTES:
        return _skipped(url, "too_large", f"{len(html)} bytes > {quality.MAX_HTML_BYTES}")
    if quality.not_html(html):
        return _skipped(url, "not_html", "bytes are not an HTML page")

    cleaned: list[str] = []
    html = quality.strip_nul_bytes(html, cleaned)
    decoded = decode_html(html, http_charset)
    warnings = cleaned + list(decoded.warnings)
    tree = parse_html(decoded.text)
    if tree is None:
        return _skipped(url, "no_content", "empty document", decoded.encoding, decoded.source)

    meta = meta_values(tree)
    jsonld = jsonld_objects(tree)
    script_count = sum(1 for script in tree.iter("script") if _is_executable(script))
    js_notice = any(quality.has_js_notice(node_text(el)) for el in tree.iter("noscript"))
    strip_non_text(tree)
    if hints.drop_selectors and not boilerplate.drop_elements(tree, hints.drop_selectors):
        warnings.append("drop_selectors matched nothing")

    title, headline = find_title(tree, meta, jsonld, hints.title_selector)
    dates = find_dates(
        tree,
        url,
        zone_name=hints.timezone,
        founded_year=hints.founded_year,
        date_selector=hints.date_selector,
        headline=headline,
        meta=meta,
        jsonld=jsonld,
        html_text=decoded.text,
    )
    warnings += dates.warnings
    signals = _page_signals(tree, js_notice, script_count)

    boilerplate.drop_furniture(tree)
    widgets.drop_widget_rows(tree, headline)
    text = _main_text(tree, url, hints.body_selector, signals.visible_words, warnings)
    text = boilerplate.clean_text(text, title=title, drop_phrases=hints.drop_phrases)
    reason = quality.skip_reason(text, (title, tree.findtext(".//title")), signals)
    declared = hints.language or tree.get("lang") or next(iter(meta.get("content-language", ())), None)
    fields = _date_fields(dates)
    for name in ("published_raw", "updated_raw"):
        fields[name] = quality.cap_field(name, fields[name], warnings)
    title = quality.cap_field("title", title, warnings)
    return ExtractedArticle(
        url=url,
        title=title,
        text=text,
        **fields,
        language=detect_language(text or title or "", declared),
        author=quality.cap_field("author", find_author(meta, jsonld), warnings),
        canonical_url=find_canonical_url(tree, meta, url),
        encoding=decoded.encoding,
        encoding_source=decoded.source,
        skip_reason=reason,
        warnings=warnings,
    )


def _skipped(
    url: str, reason: str, why: str, encoding: str | None = None, encoding_source: str | None = None
) -> ExtractedArticle:
    return ExtractedArticle(
        url=url,
        title=None,
        text="",
        encoding=encoding,
        encoding_source=encoding_source,
        skip_reason=reason,
        warnings=[why],
    )


def _date_fields(dates: ArticleDates) -> dict:
    """The article's date fields: ArticleDates' fields carry the article's names (its warnings join the page's)."""
    return {f.name: getattr(dates, f.name) for f in fields(dates) if f.name != "warnings"}


# <script> types that run code; JSON-LD, templates and data blocks do not.
_SCRIPT_TYPES = frozenset({"", "text/javascript", "application/javascript", "module", "text/babel"})


def _is_executable(script: HtmlElement) -> bool:
    return (script.get("type") or "").strip().lower() in _SCRIPT_TYPES


def _page_signals(tree: HtmlElement, js_notice: bool, script_count: int) -> quality.PageSignals:
    body = tree.find("body")
    if body is None:
        return quality.PageSignals(0.0, 0.0, 0, script_count, js_notice)
    visible = body.text_content()
    return quality.PageSignals(
        visible_words=text_words(visible),
        link_share=link_share(body, visible),
        link_count=sum(1 for link in body.iter("a") if link.get("href")),
        script_count=script_count,
        js_notice=js_notice or quality.has_js_notice(visible),
    )


def _main_text(
    tree: HtmlElement, url: str, body_selector: str | None, page_words: float, warnings: list[str]
) -> str:
    """The article text: trafilatura on the page, or on the source's body selector when given."""
    if body_selector:
        selected = [el for el in select(tree, body_selector) if isinstance(el, HtmlElement)]
        if selected:
            return _selected_text(selected, url)
        warnings.append(f"body_selector {body_selector!r} matched nothing; extracted the whole page")
    return _trafilatura_text(tree, url, page_words)


def _trafilatura_text(tree: HtmlElement, url: str, page_words: float) -> str:
    """trafilatura's text of a tree (it works on a copy): fast pass, full cascade when that looks short."""
    text = _bare_text(tree, url, fast=True)
    words = text_words(text)
    if words < quality.MIN_ARTICLE_WORDS or words < FULL_CASCADE_BELOW_PAGE_SHARE * page_words:
        return _bare_text(tree, url, fast=False)
    fast_prose = quality.prose_share(text)
    if fast_prose < FULL_CASCADE_BELOW_PROSE_SHARE:
        full = _bare_text(tree, url, fast=False)
        if quality.prose_share(full) > fast_prose:
            return full
    return text


def _bare_text(tree: HtmlElement, url: str, *, fast: bool) -> str:
    options = copy(_trafilatura_options(fast))
    options.url = options.source = url
    document = trafilatura.bare_extraction(tree, options=options)
    return (document.text or "") if document is not None else ""


@lru_cache(maxsize=2)
def _trafilatura_options(fast: bool) -> Extractor:
    """trafilatura's settings for our text, built once (reading its config costs more than a copy)."""
    return Extractor(output_format="python", fast=fast, comments=False, tables=True, with_metadata=False)


def _selected_text(elements: list[HtmlElement], url: str) -> str:
    """Text of the elements a body selector picked, line by block, trafilatura-cleaned when it keeps most of it."""
    plain = "\n".join(_block_text(element) for element in elements)
    wrapper = parse_html("<html><body><article></article></body></html>")
    assert wrapper is not None  # a literal document always parses
    article = wrapper.find(".//article")
    for element in elements:
        article.append(_detached_copy(element))
    plain_words = text_words(plain)
    cleaned = _trafilatura_text(wrapper, url, plain_words)
    # trafilatura may judge part of a declared body to be boilerplate; the
    # source's selector is the authority, so keep the plain text if it lost much.
    return cleaned if text_words(cleaned) >= 0.8 * plain_words else plain


def _detached_copy(element: HtmlElement) -> HtmlElement:
    clone = deepcopy(element)
    clone.tail = None
    return clone


def _block_text(element: HtmlElement) -> str:
    """Text of an element with a line break at every block boundary."""
    parts: list[str] = []

    def walk(node: HtmlElement) -> None:
        block = isinstance(node.tag, str) and node.tag in _BLOCK_TAGS
        if block:
            parts.append("\n")
        if node.text:
            parts.append(node.text)
        for child in node:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if block:
            parts.append("\n")

    walk(element)
    lines = (" ".join(line.split()) for line in "".join(parts).splitlines())
    return "\n".join(line for line in lines if line)
