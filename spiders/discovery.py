"""Reading discovery pages: feeds, sitemaps and list pages -> article URLs (and the next page).

Plain functions over bytes and parsel selectors, testable without a crawler. A page
that cannot be read raises DiscoveryError with the reason, for the crawl's error list.
"""

from __future__ import annotations

import calendar
import gzip
import io
import json
import re
import zlib
from dataclasses import dataclass
from typing import Iterable
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

import feedparser
from parsel import Selector

from crawler.extract.htmltree import is_xpath
from crawler.urls import canonical_url
from spiders.xmlstream import (
    GZIP_MAGIC,
    MAX_SITEMAP_BYTES,
    CappedStream,
    StreamError,
    parse_w3c_datetime,
    take_entries,
    text_lines,
)

# Link texts that mean "the next page of this list" (English and Chinese sites).
NEXT_TEXT = re.compile(
    r"^(?:next(?:\s+page)?|older(?:\s+(?:posts|entries|news|articles))?|下一?页|后一页|下一頁|下页|"
    r"[›»>]{1,2})\s*[›»>]*$",
    re.IGNORECASE,
)
# ?page=N and its common spellings (p, pg, pageno, page_no, pn, pageIndex).
PAGE_PARAM = re.compile(r"([?&](?:page|p|pg|pn|pageno|page_no|pageindex|page_index)=)(\d+)", re.IGNORECASE)


class DiscoveryError(ValueError):
    """A feed, sitemap or list page that yields nothing usable; the message says why."""


@dataclass(frozen=True)
class Listing:
    """A link found on a discovery page, with the date the page gave it (if any)."""

    url: str
    published: datetime | None = None


@dataclass(frozen=True)
class SitemapDoc:
    """A parsed sitemap: 'urlset' and 'feed' entries are pages, 'sitemapindex' entries are sitemaps.

    total counts the document's entries; entries holds at most the reader's limit of them.
    """

    kind: str
    entries: list[Listing]
    total: int = 0

    @property
    def left_out(self) -> int:
        return max(0, self.total - len(self.entries))


# -- feeds ---------------------------------------------------------------------------

# Entries kept from one feed or sitemap file: the sitemap protocol's own maximum per file,
# so a conforming sitemap is never cut; a bigger file keeps its newest entries (setting
# EXPOWATCH_MAX_ENTRIES_PER_FILE). The rest is reported, not silently dropped.
MAX_ENTRIES_PER_FILE = 50_000
# Feeds up to this size are read by feedparser (lenient with broken XML, every feed
# dialect); a bigger one is streamed like a sitemap, so its size never costs memory.
FEEDPARSER_MAX_BYTES = 2 * 1024 * 1024
JSON_FEED_VERSION = re.compile(r"^https://jsonfeed\.org/version/1(\.\d+)?/?$")


def _struct_to_utc(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), timezone.utc)
    except (OverflowError, ValueError):
        return None


def newest(listings: list[Listing], limit: int) -> list[Listing]:
    """The `limit` newest listings (undated ones after dated ones, document order kept among equals)."""
    if len(listings) <= limit:
        return listings
    order = sorted(range(len(listings)), key=lambda i: (
        listings[i].published is not None, listings[i].published or datetime.min.replace(tzinfo=timezone.utc), -i),
        reverse=True)
    return [listings[i] for i in order[:limit]]


@dataclass(frozen=True)
class FeedDoc:
    """A feed's entry links (newest `limit` of them) and how many entries it had."""

    entries: list[Listing]
    total: int

    @property
    def left_out(self) -> int:
        return self.total - len(self.entries)


def looks_like_json(body: bytes, content_type: str | None) -> bool:
    """A JSON body (a JSON Feed), by its first byte or its media type."""
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{" or "json" in (content_type or "").lower()


def read_json_feed(body: bytes, url: str, limit: int = MAX_ENTRIES_PER_FILE) -> FeedDoc:
    """Entry links of a JSON Feed 1.0 / 1.1 (url, else external_url), resolved against the feed URL."""
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DiscoveryError(f"not a JSON Feed: the body is not JSON ({exc})") from None
    if not isinstance(doc, dict) or not JSON_FEED_VERSION.match(str(doc.get("version", ""))):
        raise DiscoveryError("not a JSON Feed: no \"version\": \"https://jsonfeed.org/version/1.x\"")
    items = doc.get("items")
    if not isinstance(items, list):
        raise DiscoveryError("JSON Feed has no \"items\" list")
    listings: list[Listing] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        link = item.get("url") or item.get("external_url")
        if not isinstance(link, str) or not link.strip():
            continue
        published = parse_w3c_datetime(str(item.get("date_published") or item.get("date_modified") or ""))
        listings.append(Listing(urljoin(url, link.strip()), published))
    if items and not listings:
        raise DiscoveryError(f"none of the JSON Feed's {len(items)} items has a url")
    return FeedDoc(newest(listings, limit), len(listings))


def read_feed(body: bytes, url: str, content_type: str | None = None,
              limit: int = MAX_ENTRIES_PER_FILE) -> FeedDoc:
    """Entry links of an RSS, Atom or JSON feed, resolved against xml:base or the feed URL.

    Broken XML is read leniently when entries survive; a body with no entries that is
    not a well-formed feed raises DiscoveryError naming what is wrong. At most `limit`
    entries are kept (the newest); `left_out` says how many were not.
    """
    if not body.strip():
        raise DiscoveryError("feed is empty (no body)")
    if looks_like_json(body, content_type) and not body.lstrip()[:1] == b"<":
        return read_json_feed(body, url, limit)
    if len(body) > FEEDPARSER_MAX_BYTES or body[:2] == GZIP_MAGIC:
        doc = read_sitemap(body, url, limit)
        if doc.kind == "sitemapindex":
            raise DiscoveryError("not a feed: the URL returned a sitemap index")
        return FeedDoc(doc.entries, doc.total)
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    feed = feedparser.parse(body, response_headers=headers)
    listings: list[Listing] = []
    for entry in feed.entries:
        link = entry.get("link") or (entry.get("id") if entry.get("guidislink") else None)
        if not link:
            continue
        published = _struct_to_utc(entry.get("published_parsed") or entry.get("updated_parsed"))
        listings.append(Listing(urljoin(url, link.strip()), published))
    if listings:
        return FeedDoc(newest(listings, limit), len(listings))
    if feed.get("bozo") and feed.get("version"):
        raise DiscoveryError(f"feed XML is broken and no entry link could be read: {feed.get('bozo_exception')}")
    if not feed.get("version"):
        head = body.lstrip()[:200].lower()
        if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
            raise DiscoveryError("not a feed: the URL returned an HTML page")
        problem = feed.get("bozo_exception")
        raise DiscoveryError(f"not an RSS or Atom feed{f' ({problem})' if problem else ''}")
    if feed.entries:
        raise DiscoveryError(f"none of the feed's {len(feed.entries)} entries has a link")
    return FeedDoc([], 0)  # a well-formed feed with no entries: nothing published yet


# -- sitemaps ------------------------------------------------------------------------


def gunzip_capped(body: bytes, limit: int = MAX_SITEMAP_BYTES) -> bytes:
    """Decompress a gzip body, refusing more than limit bytes (a gzip bomb costs nothing)."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as gz:
            data = gz.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise DiscoveryError(f"sitemap gzip is unreadable: {exc}") from None
    if len(data) > limit:
        raise DiscoveryError(f"sitemap is larger than {limit // (1024 * 1024)} MB uncompressed")
    return data


def read_sitemap(body: bytes, url: str, limit: int = MAX_ENTRIES_PER_FILE) -> SitemapDoc:
    """Read a sitemap (plain, index, gzip, Google News, a text file of URLs, or an RSS/Atom/JSON feed).

    The document is streamed: memory does not grow with its size. Each entry carries
    news:publication_date when given, else lastmod (a feed's item date). At most `limit`
    entries are kept, the newest; `left_out` says how many were not.
    """
    head = _head(body)
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise DiscoveryError("sitemap is empty (no body)")
    if stripped[:1] == b"{":
        doc = read_json_feed(gunzip_capped(body) if body[:2] == GZIP_MAGIC else body, url, limit)
        return SitemapDoc("feed", doc.entries, doc.total)
    if not stripped.startswith(b"<"):
        return _text_sitemap(body, url, limit)
    try:
        taken = take_entries(body, url, limit)
    except StreamError as exc:
        raise DiscoveryError(f"sitemap {exc}") from None
    if taken.kind not in ("urlset", "sitemapindex", "feed"):
        if taken.kind == "html":
            raise DiscoveryError("not a sitemap: the URL returned an HTML page")
        raise DiscoveryError(f"not a sitemap: root element is <{taken.kind}>, expected <urlset>, "
                             "<sitemapindex> or an RSS/Atom feed")
    entries = [Listing(e.url, e.published) for e in taken.entries]
    return SitemapDoc(taken.kind, entries, taken.total)


def _head(body: bytes, size: int = 512) -> bytes:
    """The first bytes of a body, inflated if it is gzip."""
    try:
        return CappedStream(body).read(size)
    except StreamError as exc:
        raise DiscoveryError(f"sitemap {exc}") from None


def _text_sitemap(body: bytes, url: str, limit: int) -> SitemapDoc:
    """A text sitemap: one absolute URL per line (the protocol allows it), read line by line."""
    urls: list[Listing] = []
    lines = total = 0
    try:
        for line in text_lines(body):
            if not line:
                continue
            lines += 1
            if re.match(r"^https?://", line):
                total += 1
                if len(urls) < limit:
                    urls.append(Listing(line))
    except StreamError as exc:
        raise DiscoveryError(f"sitemap {exc}") from None
    if not total or total < lines / 2:
        raise DiscoveryError("not a sitemap: neither XML nor a list of URLs")
    return SitemapDoc("urlset", urls, total)


# -- robots.txt ----------------------------------------------------------------------


def robots_url(url: str) -> str:
    """The robots.txt URL of a URL's site."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/robots.txt"


def robots_sitemaps(text: str, url: str) -> list[str]:
    """The `Sitemap:` URLs of a robots.txt (trafilatura's reader), resolved against its URL, in order."""
    from trafilatura.sitemaps import extract_robots_sitemaps

    parts = urlsplit(url)
    found = extract_robots_sitemaps(text, f"{parts.scheme}://{parts.netloc}") if text else []
    return list(dict.fromkeys(u for u in found if u.startswith(("http://", "https://"))))


# -- list pages ----------------------------------------------------------------------


def select_values(page: Selector, selector: str) -> list[str]:
    """Values matched by a CSS or XPath selector.

    Attribute or text results are taken as they are; a matched element gives its href,
    or the hrefs of the links inside it (so a selector may name the list's container).
    """
    found = page.xpath(selector) if is_xpath(selector) else page.css(selector)
    values: list[str] = []
    for node in found:
        if not hasattr(node.root, "tag"):  # an attribute or text result
            values.append(node.get())
        elif "href" in node.attrib:
            values.append(node.attrib["href"])
        else:
            values.extend(node.css("a::attr(href)").getall())
    return values


def list_page_links(page: Selector, url: str, article_links: str | None) -> list[str]:
    """Absolute link targets on a list page: the declared selector's, else every <a href>."""
    hrefs = select_values(page, article_links) if article_links else page.css("a::attr(href)").getall()
    out: list[str] = []
    for href in hrefs:
        href = (href or "").strip()
        if href and not href.startswith(("#", "javascript:", "mailto:", "tel:")):
            out.append(urljoin(url, href))
    return out


def matching_articles(listings: Iterable[Listing], pattern: re.Pattern[str] | None) -> dict[str, Listing]:
    """The http(s) links that are articles, keyed by canonical URL (the first listing of each wins).

    The pattern is searched in the URL as found and in its canonical form, so a tracking
    parameter on a link does not hide an article.
    """
    found: dict[str, Listing] = {}
    for listing in listings:
        if not listing.url.startswith(("http://", "https://")):
            continue
        try:
            canonical = canonical_url(listing.url)
        except ValueError:
            continue
        if pattern is None or pattern.search(listing.url) or pattern.search(canonical):
            found.setdefault(canonical, listing)
    return found


def page_number(url: str) -> int | None:
    """The N of ?page=N (or p=, pn=, ...) in a URL, if present."""
    match = PAGE_PARAM.search(url)
    return int(match.group(2)) if match else None


def next_page_url(page: Selector, url: str, declared: str | None = None) -> tuple[str | None, bool]:
    """The next list page and whether it was guessed (not linked).

    Order: the declared selector; rel=next; a link reading "next"/"下一页"/"›"; a link
    to ?page=N+1; else, when this URL has ?page=N, the same URL with N+1 (guessed).
    """
    if declared:
        found = [v for v in select_values(page, declared) if v.strip()]
        return (urljoin(url, found[0].strip()), False) if found else (None, False)
    rel_next = page.css('link[rel~="next"]::attr(href), a[rel~="next"]::attr(href)').get()
    if rel_next and rel_next.strip():
        return urljoin(url, rel_next.strip()), False
    for anchor in page.css("a[href]"):
        text = " ".join(" ".join(anchor.css("::text").getall()).split())
        label = anchor.attrib.get("aria-label", "") or anchor.attrib.get("title", "")
        if (text and NEXT_TEXT.match(text)) or (label and NEXT_TEXT.match(label.strip())):
            target = urljoin(url, anchor.attrib["href"].strip())
            if target != url and not anchor.attrib["href"].strip().startswith(("#", "javascript:")):
                return target, False
    current = page_number(url) or 1
    here = urlsplit(url)
    for href in page.css("a::attr(href)").getall():
        target = urljoin(url, href.strip())
        parts = urlsplit(target)
        if parts.netloc == here.netloc and parts.path == here.path and page_number(target) == current + 1:
            return target, False
    match = PAGE_PARAM.search(url)
    if match:
        return url[: match.start(2)] + str(current + 1) + url[match.end(2):], True
    return None, False
