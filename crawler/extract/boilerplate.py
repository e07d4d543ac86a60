"""Generic boilerplate removal for news pages: page widgets before extraction, leftover lines after.

The patterns are the furniture of real English and Chinese news sites:
breadcrumbs ("Your current location:", "当前位置"), bookmark/print/font-size
widgets ("Collection Collection", "收藏 打印"), share and cookie bars, photo
credits, "related news" tails, QR-code / copyright / ICP-licence footers, and
bare byline lines already captured as metadata.
"""

from __future__ import annotations

import re

from lxml import etree
from lxml.html import HtmlElement

from crawler.extract.dates import date_span
from crawler.extract.htmltree import alnum_only, link_share, remove_element, select
from crawler.extract.language import text_words
from crawler.extract.quality import PROSE_LINE_WORDS, prose_share

# Element class/id words that mark page furniture, matched as whole words of
# the attribute (split on space, "-" and "_"). An element is only dropped when
# its text is short, so a wrapper such as "article-share-wrap" around the
# whole story is never removed.
_FURNITURE_WORDS = frozenset(
    {
        "breadcrumb", "breadcrumbs", "crumb", "crumbs", "share", "sharing", "social", "bdsharebuttonbox",
        "jiathis", "cookie", "cookies", "consent", "collect", "favorite", "favourite", "bookmark",
        "qrcode", "ewm", "copyright", "banquan", "prevnext", "pager", "pagination",
    }
)  # fmt: skip
# Words that also name real content ("location" of an event), so the block
# must read like a breadcrumb too (a label or "Home > News" separators).
_CRUMB_WORDS = frozenset({"location", "position", "weizhi", "dqwz", "path", "nav-path"})
_CRUMB_TEXT = re.compile(r"[>»›]|当前位置|您的位置|所在位置|location|you are here", re.IGNORECASE)
# Link lists to other stories: dropped whatever their size when mostly links.
_RELATED_WORDS = frozenset({"related", "recommend", "recommended", "tuijian", "xgxw", "xgyd", "relatedposts"})
FURNITURE_MAX_CHARS = 400
# Share of a block's text inside links above which it is a list of links.
LINK_LIST_MIN_SHARE = 0.6
_WORD_SPLIT = re.compile(r"[\s_-]+")

# A line made only of these widget labels is a toolbar, not text.
_WIDGET_WORDS = frozenset(
    {
        "collection", "collect", "favorite", "favourite", "bookmark", "print", "share", "email",
        "e-mail", "font", "size", "small", "medium", "large", "a+", "a-", "close", "top", "back",
        "save", "like", "comment", "comments", "tweet", "facebook", "twitter", "linkedin",
        "weibo", "wechat", "whatsapp", "收藏", "打印", "分享", "字号", "大", "中", "小", "关闭",
        "关闭窗口", "打印本页", "返回顶部", "微信", "微博", "【大", "中", "小】", "[大", "小]", "|",
        "【打印】", "【关闭】", "[打印]", "[关闭]", "【收藏】", "【字号", "大】", "默认", "超大",
    }
)  # fmt: skip
_TOKEN_SPLIT = re.compile(r"[\s\u3000:：/]+")

_LINE_PATTERNS = re.compile(
    "|".join(
        (
            # breadcrumbs
            r"^\s*(?:your\s+)?(?:the\s+)?current\s+(?:location|position)\s*[:：]",
            r"^\s*(?:you\s+are\s+here|location)\s*[:：]",
            r"^\s*(?:home|首页)\s*[>»›]",
            r"^\s*(?:当前位置|您的位置|您现在的位置|您当前的位置|当前所在位置|所在位置|位置)\s*[:：]",
            # share / cookie bars
            r"^\s*(?:share\s+(?:this|on|to|via)\b|分享到|分享至)",
            r"\b(?:we\s+use\s+cookies|accept\s+(?:all\s+)?cookies|cookie\s+(?:policy|settings))\b",
            # photo credits
            r"^\s*[(（]?\s*(?:photo|photos|image|picture|pictured|credit)s?\s*(?:by|credit|courtesy|source)?\s*[:：/]",
            r"^\s*[(（]?\s*(?:photo|image)s?\s+(?:by|courtesy\s+of)\s",
            r"^\s*(?:图片来源|图片|摄影|图|供图)\s*[:：/]",
            r"[(（][^()（）]{0,24}摄\s*[)）]\s*$",
            r"(?:记者|通讯员)\s*\S{1,8}\s*摄\s*$|\S\s+摄\s*$|[/／]\s*摄\s*$",
            # promo / legal footers
            r"(?:icp备|icp证|公网安备|版权所有|all\s+rights\s+reserved|copyright\s*(?:©|\(c\)|\d{4}))",
            r"^\s*©",
            r"(?:扫一扫|扫码|scan\s+(?:the\s+)?qr\s+code|关注我们|follow\s+us\s+on)",
            # an account plug ("官方微信：xxxx"); a sentence that mentions an official account is news
            r"^.{0,12}(?:官方微信|官方小程序|官方微博)\s*(?:[:：]|号|$)",
            # wire-service trailers ("View original content to download multimedia: https://...")
            r"^\s*view\s+original\s+content\b",
            # previous / next article links
            r"^\s*(?:上一篇|下一篇|previous(?:\s+article)?|next(?:\s+article)?)\s*[:：]",
            r"^\s*(?:责任编辑|编辑|责编)\s*[:：]\s*\S{1,20}\s*$",
        )
    ),
    re.IGNORECASE,
)
_URL = re.compile(r"\bhttps?://\S+", re.IGNORECASE)
# Lines at most this long are judged by the patterns above; longer lines are prose.
BOILERPLATE_LINE_MAX_CHARS = 160

# A heading that opens the tail of links to other stories; everything after it
# goes, unless most of what follows is prose (then it was a "Read more" box in
# the middle of the story: the heading and the short lines under it go).
PROSE_AFTER_HEADING_MIN_SHARE = 0.5
_TAIL_HEADINGS = re.compile(
    r"^\s*(?:related\s+(?:news|articles?|stories|links|reading|content|posts)|read\s+more|more\s+(?:news|stories)"
    r"|recommended(?:\s+(?:for\s+you|reading|articles?))?|you\s+may\s+also\s+like|see\s+also|further\s+reading"
    r"|相关新闻|相关阅读|相关链接|相关文章|相关报道|相关推荐|延伸阅读|推荐阅读|热点推荐|热门推荐|精彩推荐|为您推荐|为你推荐"
    r"|猜你喜欢|更多新闻|热门文章|新闻推荐)"
    r"\s*[:：>»]?\s*$",
    re.IGNORECASE,
)


def drop_elements(tree: HtmlElement, selectors: tuple[str, ...]) -> int:
    """Remove every element a source's drop_selectors match; returns how many were removed."""
    removed = 0
    for selector in selectors:
        for element in select(tree, selector):
            if isinstance(element, HtmlElement):
                remove_element(element)
                removed += 1
    return removed


def drop_furniture(tree: HtmlElement) -> None:
    """Remove page-furniture blocks (breadcrumbs, share bars, related links, footers) marked by class/id."""
    body = tree.find("body")
    if body is None:
        return
    doomed = [element for element in _MARKED_ELEMENTS(body) if _is_furniture(element)]
    for element in doomed:
        if element.getparent() is not None:
            remove_element(element)


# Only elements with a class or id can be marked as furniture.
_MARKED_ELEMENTS = etree.XPath("descendant-or-self::*[@class or @id]")


def _is_furniture(element: HtmlElement) -> bool:
    marks = f"{element.get('class', '')} {element.get('id', '')}".strip().lower()
    if not marks:
        return False
    words = set(_WORD_SPLIT.split(marks))
    if words & _RELATED_WORDS:
        return link_share(element) >= LINK_LIST_MIN_SHARE
    furniture, crumb = bool(words & _FURNITURE_WORDS), bool(words & _CRUMB_WORDS)
    if not (furniture or crumb):
        return False  # before reading the text, which is the costly part
    text = element.text_content()
    if len(text) > FURNITURE_MAX_CHARS:
        return False
    return furniture or bool(_CRUMB_TEXT.search(text))


def clean_text(text: str, *, title: str | None = None, drop_phrases: tuple[str, ...] = ()) -> str:
    """Remove boilerplate lines, the repeated headline, byline lines and related-links tails."""
    kept: list[str] = []
    phrases = tuple(phrase.casefold() for phrase in drop_phrases if phrase)
    title_key = _squash(title) if title else None
    lines = [stripped for line in text.splitlines() if (stripped := line.strip())]
    skipping_links = False
    for index, stripped in enumerate(lines):
        if kept and _TAIL_HEADINGS.match(stripped):
            if not _prose_follows(lines[index + 1 :]):
                break  # the related-links tail: everything after it goes
            skipping_links = True  # a "Read more" box inside the story: drop it and the links under it
            continue
        if skipping_links and text_words(stripped) < PROSE_LINE_WORDS:
            continue
        skipping_links = False
        folded = stripped.casefold()
        if phrases and any(phrase in folded for phrase in phrases):
            continue
        if not kept and title_key and _squash(stripped) == title_key:
            continue  # the headline repeated as the first line of the body
        if is_boilerplate_line(stripped):
            continue
        kept.append(stripped)
    return "\n".join(kept)


def _prose_follows(lines: list[str]) -> bool:
    """True when the text after a related-links heading is mostly prose: the story goes on below a link box."""
    return prose_share("\n".join(lines)) >= PROSE_AFTER_HEADING_MIN_SHARE


def is_boilerplate_line(line: str) -> bool:
    """True for a short line that is page furniture rather than article text."""
    if len(line) > BOILERPLATE_LINE_MAX_CHARS and len(_without_urls(line)) > BOILERPLATE_LINE_MAX_CHARS:
        return False  # a long line is prose (a link in a footer line does not make it long)
    if line.startswith("|"):  # a table row as trafilatura writes it: judge its cells' text
        line = " ".join(cell.strip() for cell in line.split("|") if cell.strip())
        if not line:
            return False
    return (
        bool(_LINE_PATTERNS.search(line))
        or _is_toolbar_or_byline(line)
        or _is_bracket_toolbar(line)
        or _is_breadcrumb(line)
    )


# Toolbar buttons written as bracketed items: "【收藏】【打印】【关闭】", "[Print] [Email]".
_BRACKETED_ITEM = re.compile(r"[【\[［〖]([^】\]］〗]{0,16})[】\]］〗]")
# What may stand beside bracketed buttons ("页面功能"), and beside a breadcrumb's links, in words.
TOOLBAR_LABEL_MAX_WORDS = 4
# A breadcrumb's parts ("Home > World > Europe", "首页>>新闻>>正文") are each a short name.
CRUMB_PART_MAX_CHARS = 16
CRUMB_PART_MAX_WORDS = 3
_CRUMB_SEPARATOR = re.compile(r"\s*(?:>>?|»|›|→)\s*")


def _is_bracket_toolbar(line: str) -> bool:
    """Two or more bracketed button labels and at most a short label beside them."""
    items = _BRACKETED_ITEM.findall(line)
    if len(items) < 2 or any(text_words(item) > 3 for item in items):
        return False
    return text_words(_BRACKETED_ITEM.sub(" ", line)) <= TOOLBAR_LABEL_MAX_WORDS


def _is_breadcrumb(line: str) -> bool:
    """A trail of three or more short names joined by ">" / ">>" / "»" (an optional label before the first)."""
    parts = [part.strip() for part in _CRUMB_SEPARATOR.split(line)]
    if len(parts) < 3 or not all(parts[1:]):
        return False
    return all(len(part) <= CRUMB_PART_MAX_CHARS and text_words(part) <= CRUMB_PART_MAX_WORDS for part in parts[1:]) and (
        text_words(parts[0]) <= CRUMB_PART_MAX_WORDS + TOOLBAR_LABEL_MAX_WORDS
    )


def _without_urls(line: str) -> str:
    return _URL.sub("", line) if "://" in line else line


_BYLINE_LABELS = re.compile(
    r"(?:\b(?:release|released|published|posted|updated|time|date|source|author|editor|by|views?|clicks?)\b"
    r"|发布时间|发布日期|发布|时间|日期|来源|作者|编辑|浏览|点击|阅读)",
    re.IGNORECASE,
)
# What may be left of a byline once labels, widgets and the date are gone: a source or author name.
BYLINE_NAME_MAX_WORDS = 6
BYLINE_NAME_MAX_CHARS = 60


def _is_toolbar_or_byline(line: str) -> bool:
    """Widget labels and/or a date ("2021-03-19 10:20 Collection Collection"), or a labelled byline
    ("Release:Chongqing Daily Time:2019-07-19 17:30:36"), with at most a short name left over."""
    span = date_span(line)
    rest = f"{line[: span[0]]} {line[span[1] :]}" if span else line
    tokens = [token for token in _TOKEN_SPLIT.split(rest.casefold()) if token]
    others = [token for token in tokens if token not in _WIDGET_WORDS]
    if not others:
        return bool(span or tokens)
    if span is None or not _BYLINE_LABELS.search(rest):
        return False
    leftover = _BYLINE_LABELS.sub(" ", " ".join(others))
    return len(leftover.split()) <= BYLINE_NAME_MAX_WORDS and len(leftover.strip()) <= BYLINE_NAME_MAX_CHARS


def _squash(text: str) -> str:
    return alnum_only(text.casefold())
