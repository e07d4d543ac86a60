"""One parse of a page into an lxml tree, plus the small lookups the extractor needs.

Selectors from source declarations are CSS unless they start with ``/`` or ``(``
(then XPath); both compile once and are cached.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from lxml import etree
from lxml.cssselect import CSSSelector
from lxml.html import HtmlComment, HtmlElement, HtmlEntity, HTMLParser, HtmlProcessingInstruction, document_fromstring

from cssselect import SelectorError as _CssError

# Comments and processing instructions carry no article text; dropping them at
# parse time keeps every later walk over the tree shorter.
_PARSER = HTMLParser(remove_comments=True, remove_pis=True, collect_ids=False, default_doctype=False)
# lxml.html picks each element's class in a Python callback (form controls get
# their own classes), paid for every element any walk touches, ours and
# trafilatura's on its copies; a C-level lookup gives every element HtmlElement.
_PARSER.set_element_class_lookup(
    etree.ElementDefaultClassLookup(
        element=HtmlElement, comment=HtmlComment, pi=HtmlProcessingInstruction, entity=HtmlEntity
    )
)

# Elements whose text is never visible article text.
NON_TEXT_TAGS = ("script", "style", "noscript", "template", "svg", "iframe", "object", "embed")

_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
# C0 control characters other than tab and line breaks: XML forbids them, and a
# single one (a stray BEL in a footnote) makes trafilatura's XML step drop the
# whole text. They are never visible text.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# A <noscript> with at least this many characters of text is the page itself
# for readers without JavaScript (some blogs put the whole post there); shorter
# ones are tracking pixels, style links and "enable JavaScript" notices.
NOSCRIPT_CONTENT_MIN_CHARS = 200
_SPACE = re.compile(r"[\s\u00a0\u3000\u200b\ufeff]+")
_NOT_ALNUM = re.compile(r"[\W_]+")  # \w is str.isalnum() plus "_"


class SelectorError(ValueError):
    """A title/date/body/drop selector from a source declaration does not compile."""


def parse_html(text: str) -> HtmlElement | None:
    """Parse decoded HTML into a document tree; None when there is nothing to parse."""
    # lxml refuses str input that still carries an XML encoding declaration.
    text = _XML_DECLARATION.sub("", text, count=1)
    text = _CONTROL_CHARS.sub("", text)
    if not text.strip():
        return None
    try:
        return document_fromstring(text, parser=_PARSER)
    except (etree.ParserError, ValueError):
        return None


def normalize_space(text: str) -> str:
    """Collapse every run of whitespace (incl. no-break and ideographic spaces) to one space."""
    return _SPACE.sub(" ", text).strip()


def alnum_only(text: str) -> str:
    """The letters and digits of text (any script), everything else dropped: a comparison key."""
    return _NOT_ALNUM.sub("", text)


def is_xpath(selector: str) -> bool:
    """True when a declared selector is XPath rather than CSS."""
    return selector.lstrip().startswith(("/", "(", "./"))


@lru_cache(maxsize=512)
def compile_selector(selector: str) -> etree.XPath:
    """Compile a CSS or XPath selector, raising SelectorError that names it when invalid."""
    try:
        if is_xpath(selector):
            return etree.XPath(selector.strip())
        return CSSSelector(selector, translator="html")
    except (etree.XPathSyntaxError, _CssError) as exc:
        kind = "XPath" if is_xpath(selector) else "CSS"
        raise SelectorError(f"invalid {kind} selector {selector!r}: {exc}") from exc


def select(tree: HtmlElement, selector: str) -> list[Any]:
    """Elements (or, for XPath returning text, strings) matched by a declared selector."""
    try:
        result = compile_selector(selector)(tree)
    except etree.XPathEvalError as exc:
        raise SelectorError(f"selector {selector!r} failed to evaluate: {exc}") from exc
    if isinstance(result, list):
        return result
    return [result] if isinstance(result, str) else []


def select_text(tree: HtmlElement, selector: str) -> str | None:
    """The first non-empty text a selector yields: element text, or attribute/text() value."""
    for hit in select(tree, selector):
        if isinstance(hit, str):
            text = normalize_space(hit)
        elif isinstance(hit, HtmlElement):
            text = node_text(hit) or normalize_space(hit.get("content") or hit.get("datetime") or "")
        else:
            continue
        if text:
            return text
    return None


def node_text(element: HtmlElement) -> str:
    """Whitespace-normalised visible text of an element."""
    return normalize_space(element.text_content())


def link_share(element: HtmlElement, text: str | None = None) -> float:
    """Share of an element's visible characters that sit inside links (text: its text_content, if already read)."""
    total = len("".join((element.text_content() if text is None else text).split()))
    if not total:
        return 0.0
    linked = sum(len("".join(link.text_content().split())) for link in element.iter("a"))
    return min(1.0, linked / total)


def remove_element(element: HtmlElement) -> None:
    """Remove an element but keep its tail text (which belongs to the parent)."""
    if element.getparent() is not None:
        element.drop_tree()


def meta_values(tree: HtmlElement) -> dict[str, list[str]]:
    """Content of <meta> tags keyed by lowercased name / property / itemprop / http-equiv."""
    found: dict[str, list[str]] = {}
    for meta in tree.iter("meta"):
        content = meta.get("content")
        if content is None or not content.strip():
            continue
        for attr in ("name", "property", "itemprop", "http-equiv"):
            key = meta.get(attr)
            if key:
                found.setdefault(key.strip().lower(), []).append(content.strip())
    return found


def jsonld_objects(tree: HtmlElement) -> list[dict[str, Any]]:
    """Every JSON-LD object on the page, with @graph and list nesting flattened."""
    objects: list[dict[str, Any]] = []
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json" or not script.text:
            continue
        try:
            data = json.loads(script.text, strict=False)
        except ValueError:
            continue  # broken JSON-LD is common; the page still has other metadata
        _flatten_jsonld(data, objects)
    return objects


def _flatten_jsonld(data: Any, out: list[dict[str, Any]]) -> None:
    if isinstance(data, list):
        for item in data:
            _flatten_jsonld(item, out)
    elif isinstance(data, dict):
        out.append(data)
        if "@graph" in data:
            _flatten_jsonld(data["@graph"], out)


def strip_non_text(tree: HtmlElement) -> None:
    """Remove scripts, styles and other elements that never hold article text.

    A <noscript> that holds a text's worth of content keeps it (the tag goes,
    its content stays): it is what the page shows without JavaScript.
    """
    etree.strip_elements(tree, *(tag for tag in NON_TEXT_TAGS if tag != "noscript"), with_tail=False)
    for noscript in list(tree.iter("noscript")):
        if len("".join(noscript.itertext()).strip()) >= NOSCRIPT_CONTENT_MIN_CHARS:
            noscript.drop_tag()
    etree.strip_elements(tree, "noscript", with_tail=False)
