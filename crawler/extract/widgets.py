"""Widget rows around an article's headline and byline: bookmark, share, font size, print, comment buttons.

Recognised by the kind of block, not by its words (Chinese and English news
pages label them every way: 收藏 / 分享到 / 字号 大 中 小 / 打印 / Share / Print /
A+ A-): a short block made of at least two short link or button items, or
icon links with no text at all, with at most a short label beside them
("Share:", "字号：", "页面功能"). Such a row is removed

- when it sits in the article's head: after the prose before the headline (or
  the top of the page) and before the story's first paragraph; rows there are
  toolbars, bylines of linked names, breadcrumbs and tag rows, never the story;
- anywhere, when one of its items is a script control (a ``javascript:`` or
  ``#`` link, a button, an onclick handler) rather than a link to a page: a
  "close window / print / share" toolbar under the story.
"""

from __future__ import annotations

from lxml.html import HtmlElement

from crawler.extract.htmltree import alnum_only, normalize_space, remove_element
from crawler.extract.language import text_words
from crawler.extract.quality import PROSE_LINE_WORDS

# A row's whole text is at most this long: a toolbar, not a paragraph with links.
ROW_MAX_CHARS = 120
# A row has at least this many items (one link is a link, two in a short block a row).
ROW_MIN_ITEMS = 2
# Each item is a button's worth of text ("收藏本文", "Share on X", "我来说两句(0)").
ITEM_MAX_CHARS = 20
ITEM_MAX_WORDS = 3
# What stands beside the items: a label ("分享到：", "Share this article", "页面功能 字体").
LABEL_MAX_WORDS = 4
# How far up from a link a row may reach (link, its wrapper, the row, the row's box).
ROW_MAX_DEPTH = 4

_ITEM_TAGS = ("a", "button")


def drop_widget_rows(tree: HtmlElement, headline: HtmlElement | None) -> int:
    """Remove widget rows in the article's head, and script-control rows anywhere; returns how many."""
    body = tree.find("body")
    if body is None:
        return 0
    head = _head_region(body, headline) if headline is not None else set()
    # Rows are looked for only around items that could start one: those in the head, and controls.
    seeds = [item for item in body.iter(*_ITEM_TAGS) if item in head or _is_control(item)]
    holding_headline = set(headline.iterancestors()) if headline is not None else set()
    doomed = [
        row
        for row, controls in _rows(body, seeds).items()
        if (controls or row in head) and row not in holding_headline
    ]
    for row in doomed:
        remove_element(row)
    return len(doomed)


def _rows(body: HtmlElement, seeds: list[HtmlElement]) -> dict[HtmlElement, bool]:
    """The widget rows above these items (the largest short block over each), with whether each holds a control."""
    found: dict[HtmlElement, bool] = {}
    judged: dict[HtmlElement, bool] = {}
    for item in seeds:
        best: HtmlElement | None = None
        element = item.getparent()
        for _ in range(ROW_MAX_DEPTH):
            if element is None or element is body:
                break
            if element not in judged:
                judged[element] = _is_row(element)
            if judged[element]:
                best = element
            elif len(element.text_content()) > ROW_MAX_CHARS:
                break
            element = element.getparent()
        if best is not None and best not in found:
            found[best] = any(_is_control(it) for it in _items(best))
    # Keep only the outermost rows (removing one removes the rows inside it).
    return {row: controls for row, controls in found.items() if not any(a in found for a in row.iterancestors())}


def _items(block: HtmlElement) -> list[HtmlElement]:
    """Links and buttons in a block, outermost only (a link inside a button is one item)."""
    items: list[HtmlElement] = []
    for element in block.iter(*_ITEM_TAGS):
        if element is block:
            continue
        parent = element.getparent()
        while parent is not None and parent is not block and parent.tag not in _ITEM_TAGS:
            parent = parent.getparent()
        if parent is None or parent is block:
            items.append(element)
    return items


def _is_row(block: HtmlElement) -> bool:
    text = block.text_content()
    if len(text) > ROW_MAX_CHARS:
        return False
    items = _items(block)
    if len(items) < ROW_MIN_ITEMS:
        return False
    item_words = 0.0
    for item in items:
        label = normalize_space(item.text_content())
        words = text_words(label)
        if len(label) > ITEM_MAX_CHARS or words > ITEM_MAX_WORDS:
            return False
        item_words += words
    # What is not inside an item: the label and separators (word counts add up across a block's parts).
    return text_words(text) - item_words <= LABEL_MAX_WORDS


def _is_control(item: HtmlElement) -> bool:
    """A script control (button, onclick, javascript:/# link) rather than a link to another page."""
    if item.tag == "button" or item.get("onclick"):
        return True
    href = (item.get("href") or "").strip().lower()
    return href.startswith(("javascript:", "#")) or (item.tag == "a" and not href)


def _head_region(body: HtmlElement, headline: HtmlElement) -> set[HtmlElement]:
    """Elements between the last prose block before the headline and the first prose block after it."""
    region: list[HtmlElement] = []
    seen_headline = False
    headline_block = set(headline.iter())
    for element in body.iter():
        if element is headline:
            seen_headline = True
        if element in headline_block:
            continue
        if _is_prose(element):
            if seen_headline:
                break
            region.clear()
            continue
        region.append(element)
    return set(region) if seen_headline else set()


def _is_prose(element: HtmlElement) -> bool:
    """An element whose own text (not its children's) is a sentence or more: the story or other prose."""
    if not isinstance(element.tag, str):
        return False
    own = (element.text or "") + "".join(child.tail or "" for child in element)
    return len(alnum_only(own)) >= PROSE_LINE_WORDS and text_words(own) >= PROSE_LINE_WORDS
