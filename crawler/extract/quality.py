"""Is this page an article? Gates that set ExtractedArticle.skip_reason.

Reasons: "too_large" (byte cap), "not_html" (PDF, image, feed, binary),
"no_content" (nothing extractable), "soft_404" (an error page served with
status 200), "js_shell" (a JavaScript app shell with no server-rendered text),
"list_page" (a list / tag / section page of links), "too_short" (below the
minimum article length). Lengths are in words with CJK characters counted at
language.CJK_CHARS_PER_WORD per word, so Chinese and English pages meet the
same bar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crawler.extract.language import text_words

# Pages above this size are data dumps, endless comment threads or broken
# streams; real article pages are 20 KB - 2 MB even with inline scripts, and
# extraction time grows with size.
MAX_HTML_BYTES = 5 * 1024 * 1024
# Longest short field kept, in characters. News titles run to 200 characters, bylines to a few
# names, written dates to 60; anything longer is a broken or hostile page, and a 1 MB title
# would fill every listing that shows it. A longer value is cut, with a warning that says so.
FIELD_CAPS = {"title": 1000, "author": 300, "published_raw": 200, "updated_raw": 200}
CAPPED_WARNING = "cut to"
# Skip reasons that are an extractor's verdict: a later extractor may overturn them, so such a
# skip is final only for the extractor version that made it (storage.store.known_urls).
REVISABLE_SKIPS = frozenset({"not_html", "no_content", "too_short", "js_shell", "list_page", "soft_404",
                             "timeout", "too_large"})  # how such a warning reads: "title cut to 1000 characters (was 1048576)"

# Shortest text kept as an article: about three sentences of English or 80
# Chinese characters. Shorter "articles" are teasers, captions or stubs.
MIN_ARTICLE_WORDS = 40

# An error page is short; pages longer than this many minimum lengths are
# articles that merely mention "page not found".
SOFT_404_MAX_LENGTHS = 3

# A page whose body shows fewer words than this while it loads scripts is an
# app shell even without an "enable JavaScript" notice (an empty mount point).
JS_SHELL_MAX_VISIBLE_WORDS = 10

# List pages: most visible text is link text, there are many links, and what
# the extractor kept is mostly short lines (headlines) rather than prose.
LIST_MIN_LINK_SHARE = 0.5
LIST_MIN_LINKS = 10
LIST_MAX_PROSE_SHARE = 0.5
# A line of at least this many words is prose; headlines are shorter.
PROSE_LINE_WORDS = 20

# Binary or non-HTML formats recognised by their first bytes.
_BINARY_SIGNATURES = (
    b"%PDF",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"RIFF",
    b"OggS",
    b"ID3",
    b"\x00\x00\x01\x00",
    b"{\\rtf",
    b"\xd0\xcf\x11\xe0",
)
# How much of the start of a document is sniffed for its format.
SNIFF_BYTES = 1024
# Binary files are full of NUL bytes; text has none, or a stray few from a broken template
# or database field. Above this share of the first SNIFF_BYTES, the bytes are not a page.
MAX_NUL_SHARE = 0.05
_FEED_ROOT = re.compile(rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:rss|feed|rdf:RDF|urlset|sitemapindex)\b", re.S)
_HTML_MARK = re.compile(rb"<(?:!doctype\s+html|html|head|body|meta|title|div|p|article|table|h[1-6]|frameset)\b", re.I)

_JS_NOTICE = re.compile(
    r"enable\s+javascript|javascript\s+(?:is\s+)?(?:required|disabled|must\s+be\s+enabled)"
    r"|requires?\s+javascript|turn\s+on\s+javascript|(?:without|need)\s+javascript"
    r"|(?:启用|开启|打开|允许|支持)\s*javascript|javascript\s*(?:已被禁用|被禁用|未启用)",
    re.IGNORECASE,
)
_SOFT_404_TITLE = re.compile(
    r"^\s*(?:error\s*)?404\s*(?:$|[-|_:：])|\b404\s*(?:error|not\s+found|page)|error\s+404|page\s+not\s+found|^\s*not\s+found\s*$"
    r"|page\s+(?:does\s+not|doesn't|cannot\s+be|could\s+not\s+be)\s+(?:exist|found)"
    r"|页面不存在|页面未找到|找不到(?:该|您要访问的|您访问的)?页面|访问的页面不存在|页面已删除|该页面已被删除|网页不存在",
    re.IGNORECASE,
)
_SOFT_404_TEXT = re.compile(
    r"page\s+(?:you\s+(?:are\s+looking\s+for|requested)\s+)?(?:was\s+)?(?:not\s+found|does\s+not\s+exist|doesn't\s+exist"
    r"|could\s+not\s+be\s+found|cannot\s+be\s+found|(?:has\s+been|was)\s+(?:removed|deleted|moved))"
    r"|\b404\b\s*(?:error|not\s+found|错误|页面)|(?:error|错误)\s*(?:code\s*)?[:：]?\s*404\b|页面不存在|页面未找到|找不到(?:该|您要访问的|您访问的)?页面|访问的页面不存在|内容不存在|文章不存在|信息不存在"
    r"|已被删除|已删除或不存在",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PageSignals:
    """What the raw page shows about itself, measured on the parsed tree before extraction."""

    visible_words: float  # words of visible body text (scripts and styles excluded)
    link_share: float  # share of visible characters inside links
    link_count: int
    script_count: int
    js_notice: bool  # an "enable JavaScript" notice anywhere on the page (incl. <noscript>)


def not_html(raw: bytes) -> bool:
    """True for bytes that are a binary file, a feed or a sitemap rather than an HTML page."""
    sample = raw[: SNIFF_BYTES * 8]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with BOM: judge the characters
        sample = sample.decode("utf-16", errors="ignore").encode("utf-8", errors="ignore")
    head = sample[:SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(_BINARY_SIGNATURES) or head.count(b"\x00") > len(head) * MAX_NUL_SHARE:
        return True
    if _FEED_ROOT.match(head.replace(b"\x00", b"")):
        return True
    # Markup decides, not a stray NUL: a few NUL bytes in an HTML page are noise (removed before parsing).
    return bool(head) and not _HTML_MARK.search(sample.replace(b"\x00", b""))


def strip_nul_bytes(raw: bytes, warnings: list[str]) -> bytes:
    """raw without NUL bytes (HTML ignores them; lxml stops at them), with a warning when any were there.

    Not for UTF-16 pages (their BOM says so), where NUL bytes are half of every ASCII character.
    """
    if b"\x00" not in raw or raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw
    count = raw.count(b"\x00")
    warnings.append(f"removed {count} NUL bytes")
    return raw.replace(b"\x00", b"")


def has_js_notice(text: str) -> bool:
    """True when text asks the reader to enable JavaScript."""
    # Every notice names JavaScript: a substring test skips the costly pattern on most pages.
    return "javascript" in text.lower() and bool(_JS_NOTICE.search(text))


def skip_reason(text: str, titles: tuple[str | None, ...], signals: PageSignals) -> str | None:
    """The reason this extracted page is not an article, or None if it is one.

    titles: the headline found and the raw <title>, either may be None.
    """
    words = text_words(text)
    if any(title and _SOFT_404_TITLE.search(title) for title in titles):
        return "soft_404"
    if words < SOFT_404_MAX_LENGTHS * MIN_ARTICLE_WORDS and _SOFT_404_TEXT.search(text):
        return "soft_404"
    if words < MIN_ARTICLE_WORDS and signals.visible_words < MIN_ARTICLE_WORDS:
        if signals.js_notice or (signals.script_count and signals.visible_words < JS_SHELL_MAX_VISIBLE_WORDS):
            return "js_shell"
    if _is_list_page(text, signals):
        return "list_page"
    if not text.strip():
        return "no_content"
    if words < MIN_ARTICLE_WORDS:
        return "too_short"
    return None


def _is_list_page(text: str, signals: PageSignals) -> bool:
    if signals.link_share < LIST_MIN_LINK_SHARE or signals.link_count < LIST_MIN_LINKS:
        return False
    return prose_share(text) < LIST_MAX_PROSE_SHARE


def prose_share(text: str) -> float:
    """Share of a text's words that sit in prose lines (at least PROSE_LINE_WORDS long)."""
    total = prose = 0.0
    for line in text.splitlines():
        words = text_words(line)
        total += words
        if words >= PROSE_LINE_WORDS:
            prose += words
    return prose / total if total else 0.0


def cap_field(name: str, value: str | None, warnings: list[str]) -> str | None:
    """value cut to FIELD_CAPS[name] characters, with a warning naming the field when it was longer."""
    cap = FIELD_CAPS[name]
    if value is None or len(value) <= cap:
        return value
    warnings.append(f"{name} {CAPPED_WARNING} {cap} characters (was {len(value)})")
    return value[:cap].rstrip()
