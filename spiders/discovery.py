"""Reading discovery pages: feeds, sitemaps and list pages -> article URLs (and the next page).

Plain functions over bytes and parsel selectors, testable without a crawler. A page
that cannot be read raises DiscoveryError with the reason, for the crawl's error list.
"""

from __future__ import annotations

import calendar
import gzip
import io
import re
import zlib
from dataclasses import dataclass
from typing import Iterable
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

import feedparser
from lxml import etree
from parsel import Selector

from crawler.extract.htmltree import is_xpath
from crawler.urls import canonical_url

# The sitemap protocol's own limit for one uncompressed file; a bigger one is hostile or broken.
MAX_SITEMAP_BYTES = 50 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
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
    """A parsed sitemap: 'urlset' entries are pages, 'sitemapindex' entries are sitemaps."""

    kind: str
    entries: list[Listing]


# -- feeds ---------------------------------------------------------------------------


def _struct_to_utc(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), timezone.utc)
    except (OverflowError, ValueError):
        return None


def read_feed(body: bytes, url: str, content_type: str | None = None) -> list[Listing]:
    """Entry links of an RSS/Atom feed, resolved against xml:base or the feed URL.

    Broken XML is read leniently when entries survive; a body with no entries that is
    not a well-formed feed raises DiscoveryError naming what is wrong.
    """
    if not body.strip():
        raise DiscoveryError("feed is empty (no body)")
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
        return listings
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
    return []  # a well-formed feed with no entries: nothing published yet


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


def parse_w3c_datetime(text: str | None) -> datetime | None:
    """A sitemap date (W3C datetime: 2024-05-01, 2024-05-01T10:00:00+08:00, ...Z) in UTC; None if unreadable.

    A date without a zone is taken as UTC: the protocol requires one, and a day is precise enough.
    """
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _local(tag) -> str:
    return etree.QName(tag).localname.lower() if isinstance(tag, str) else ""


_SITEMAP_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, huge_tree=False,
                               remove_comments=True, recover=True)


def read_sitemap(body: bytes, url: str) -> SitemapDoc:
    """Read a sitemap (plain, index, gzip, Google News, or a text file of URLs).

    Each entry carries news:publication_date when given, else lastmod.
    """
    if body[:2] == GZIP_MAGIC:
        body = gunzip_capped(body)
    if len(body) > MAX_SITEMAP_BYTES:
        raise DiscoveryError(f"sitemap is larger than {MAX_SITEMAP_BYTES // (1024 * 1024)} MB")
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise DiscoveryError("sitemap is empty (no body)")
    if not stripped.startswith(b"<"):
        return _text_sitemap(stripped, url)
    try:
        root = etree.fromstring(stripped, parser=etree.XMLParser(**_SITEMAP_PARSER_OPTIONS))
    except etree.XMLSyntaxError as exc:
        raise DiscoveryError(f"sitemap XML is broken: {exc}") from None
    if root is None:
        raise DiscoveryError("sitemap XML is broken: no root element")
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        if kind == "html":
            raise DiscoveryError("not a sitemap: the URL returned an HTML page")
        raise DiscoveryError(f"not a sitemap: root element is <{kind}>, expected <urlset> or <sitemapindex>")
    entries: list[Listing] = []
    for child in root:
        if _local(child.tag) not in ("url", "sitemap"):
            continue
        loc = lastmod = published = None
        for node in child.iter():
            name = _local(node.tag)
            if name == "loc" and node.getparent() is child:
                loc = (node.text or "").strip()
            elif name == "lastmod":
                lastmod = node.text
            elif name == "publication_date":  # Google News: <news:news><news:publication_date>
                published = node.text
        if loc:
            entries.append(Listing(urljoin(url, loc), parse_w3c_datetime(published) or parse_w3c_datetime(lastmod)))
    return SitemapDoc(kind, entries)


def _text_sitemap(body: bytes, url: str) -> SitemapDoc:
    """A text sitemap: one absolute URL per line (the protocol allows it)."""
    lines = [line.strip() for line in body.decode("utf-8", "replace").splitlines() if line.strip()]
    urls = [line for line in lines if re.match(r"^https?://", line)]
    if not urls or len(urls) < len(lines) / 2:
        raise DiscoveryError("not a sitemap: neither XML nor a list of URLs")
    return SitemapDoc("urlset", [Listing(u) for u in urls])


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
