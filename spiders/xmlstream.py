"""Reading sitemaps and RSS/Atom files incrementally, with a bounded number of entries kept.

A site may publish a sitemap of a million entries (49 MB inflated from 3 MB of gzip). The
document is never built as a tree nor inflated in one piece: gzip is read in chunks, lxml's
iterparse hands over one entry at a time and each is dropped once read, and only the
`limit` newest entries are kept (a heap), so memory is bounded by `limit`, not by the file.
The parser is the same hardened one as before: no entity expansion, no network, no huge
text nodes; broken XML gives what could be read.
"""

from __future__ import annotations

import gzip
import heapq
import io
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Iterator
from urllib.parse import urljoin

from lxml import etree

GZIP_MAGIC = b"\x1f\x8b"
# The sitemap protocol's own limit for one uncompressed file; a bigger one is hostile or broken.
MAX_SITEMAP_BYTES = 50 * 1024 * 1024
CHUNK = 64 * 1024  # bytes handed to the parser at a time
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, huge_tree=False,
                       remove_comments=True, remove_pis=True, recover=True)
# Root elements: what kind of document they make.
SITEMAP_ROOTS = {"urlset": "urlset", "sitemapindex": "sitemapindex"}
FEED_ROOTS = {"rss": "feed", "rdf": "feed", "feed": "feed"}
# Elements whose end gives one entry, per document kind.
ENTRY_TAGS = {"urlset": {"url"}, "sitemapindex": {"sitemap"}, "feed": {"item", "entry"}}


class StreamError(ValueError):
    """The document cannot be read (too big, bad gzip, not XML); the message says why."""


@dataclass(frozen=True)
class StreamedEntry:
    """One entry's link and the date the document gave it."""

    url: str
    published: datetime | None


@dataclass
class Taken:
    """The entries kept from a document (newest first) and how many were left out."""

    kind: str  # urlset | sitemapindex | feed | html | <other root>
    entries: list[StreamedEntry]
    total: int  # entries in the document
    limit: int

    @property
    def left_out(self) -> int:
        return max(0, self.total - len(self.entries))


class CappedStream(io.RawIOBase):
    """A body (gzip inflated on the fly) that refuses to give more than `limit` bytes."""

    def __init__(self, body: bytes, limit: int = MAX_SITEMAP_BYTES):
        super().__init__()
        self.limit = limit
        self.given = 0
        self._source = gzip.GzipFile(fileobj=io.BytesIO(body)) if body[:2] == GZIP_MAGIC else io.BytesIO(body)

    def readable(self) -> bool:
        return True

    def read(self, size: int = CHUNK) -> bytes:
        size = CHUNK if size is None or size < 0 else size
        try:
            data = self._source.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            raise StreamError(f"gzip is unreadable: {exc}") from None
        self.given += len(data)
        if self.given > self.limit:
            raise StreamError(f"is larger than {self.limit // (1024 * 1024)} MB uncompressed")
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def local_name(tag) -> str:
    """An element's name without namespace, lower-case ('' for comments and the like)."""
    return tag.rpartition("}")[2].lower() if isinstance(tag, str) else ""


def absolute(base: str, link: str) -> str:
    """link resolved against base (urljoin only when needed: it costs more than the parsing)."""
    if link.startswith(("http://", "https://")):
        return link
    if link.startswith("/") and not link.startswith("//") and base.count("/") >= 2 and ".." not in link:
        scheme, _, rest = base.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}{link}"
    return urljoin(base, link)


def parse_w3c_datetime(text: str | None) -> datetime | None:
    """A W3C datetime (2024-05-01, 2024-05-01T10:00:00+08:00, ...Z) in UTC; None if unreadable.

    A date without a zone is taken as UTC: the sitemap protocol requires one, and a day is precise enough.
    """
    if not text:
        return None
    text = text.strip()
    try:
        value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def parse_any_date(text: str | None) -> datetime | None:
    """A feed date: RFC 822 (RSS pubDate) or W3C (Atom, dc:date), in UTC."""
    if not text or not text.strip():
        return None
    found = parse_w3c_datetime(text)
    if found:
        return found
    try:
        value = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _feed_entry(element) -> tuple[str, datetime | None] | None:
    """The link and date of one RSS <item> or Atom <entry>."""
    link = guid = None
    guid_is_link = True
    dates: dict[str, str] = {}
    for node in element.iter():
        name = local_name(node.tag)
        if node is element or not name:
            continue
        text = (node.text or "").strip()
        if name == "link" and node.getparent() is element:
            href = (node.get("href") or "").strip()
            if href:
                if node.get("rel", "alternate") == "alternate" and link is None:
                    link = href
            elif text and link is None:
                link = text
        elif name == "guid":
            guid, guid_is_link = text, node.get("isPermaLink", "true").lower() != "false"
        elif name in ("pubdate", "published", "date", "updated", "issued", "modified"):
            dates.setdefault(name, text)
    link = link or (guid if guid and guid_is_link and guid.startswith(("http://", "https://", "/")) else None)
    if not link:
        return None
    published = None
    for key in ("pubdate", "published", "date", "issued", "updated", "modified"):
        published = published or parse_any_date(dates.get(key))
    return link, published


def root_kind(body: bytes, max_bytes: int = MAX_SITEMAP_BYTES) -> str:
    """What the document is, from its root element: urlset, sitemapindex, feed, or the root's name."""
    try:
        for _, element in etree.iterparse(CappedStream(body, max_bytes), events=("start",), **_PARSER_OPTIONS):
            name = local_name(element.tag)
            return SITEMAP_ROOTS.get(name) or FEED_ROOTS.get(name) or name or "unknown"
    except etree.XMLSyntaxError as exc:
        raise StreamError(f"XML is broken: {exc}") from None
    raise StreamError("XML is broken: no root element")


NO_DATE = float("-inf")  # undated entries rank after every dated one


class _Newest:
    """The `limit` newest entries seen, in a heap keyed (date, -position)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.heap: list[tuple[float, int, StreamedEntry]] = []
        self.total = 0

    def offer(self, link: str, published: datetime | None, base: str) -> None:
        self.total += 1
        stamp = published.timestamp() if published else NO_DATE
        if len(self.heap) < self.limit:
            heapq.heappush(self.heap, (stamp, -self.total, StreamedEntry(absolute(base, link), published)))
        elif stamp > self.heap[0][0]:  # equal dates: the earlier entry (already kept) wins
            heapq.heapreplace(self.heap, (stamp, -self.total, StreamedEntry(absolute(base, link), published)))

    def entries(self) -> list[StreamedEntry]:
        return [item[2] for item in sorted(self.heap, key=lambda item: item[:2], reverse=True)]


def take_entries(body: bytes, url: str, limit: int, max_bytes: int = MAX_SITEMAP_BYTES) -> Taken:
    """The `limit` newest entries of a sitemap, sitemap index, RSS or Atom document, streamed.

    Entry links are resolved against xml:base (feeds) and the document URL. Raises
    StreamError for a document that is too big, whose gzip is broken, or that is not XML.
    """
    kind = root_kind(body, max_bytes)
    if kind not in ENTRY_TAGS:
        return Taken(kind, [], 0, limit)
    newest = _Newest(limit)
    stream = CappedStream(body, max_bytes)
    try:
        if kind == "feed":
            _feed_entries(stream, url, newest)
        else:
            _sitemap_entries(stream, url, kind, newest)
    except etree.XMLSyntaxError:
        pass  # recover=True read what it could; a cut-off document keeps the entries before the cut
    return Taken(kind, newest.entries(), newest.total, limit)


def _sitemap_entries(stream: CappedStream, url: str, kind: str, newest: _Newest) -> None:
    """<url> or <sitemap> entries: only their end events reach Python (the costly part is per entry)."""
    tag = "{*}url" if kind == "urlset" else "{*}sitemap"
    for _, element in etree.iterparse(stream, events=("end",), tag=tag, **_PARSER_OPTIONS):
        loc = (element.findtext("{*}loc") or "").strip()
        if loc:
            published = None
            if len(element) > 2:  # Google News: <news:news><news:publication_date>
                published = parse_w3c_datetime(element.findtext(".//{*}publication_date"))
            newest.offer(loc, published or parse_w3c_datetime(element.findtext("{*}lastmod")), url)
        _drop(element)


def _feed_entries(stream: CappedStream, url: str, newest: _Newest) -> None:
    """<item> or <entry> entries of RSS / RDF / Atom, with xml:base tracked on the way down."""
    bases: list[str] = [url]
    for event, element in etree.iterparse(stream, events=("start", "end"), **_PARSER_OPTIONS):
        if event == "start":
            declared = element.get(XML_BASE)
            bases.append(urljoin(bases[-1], declared) if declared else bases[-1])
            continue
        base = bases.pop()
        if local_name(element.tag) not in ENTRY_TAGS["feed"]:
            if len(bases) <= 2:  # a direct child of the root or channel that is not an entry
                _drop(element)
            continue
        found = _feed_entry(element)
        if found:
            newest.offer(found[0], found[1], base)
        _drop(element)


def _drop(element) -> None:
    """Free an element that has been read, and the siblings before it."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def text_lines(body: bytes, max_bytes: int = MAX_SITEMAP_BYTES) -> Iterator[str]:
    """Lines of a (possibly gzipped) text document, read in chunks."""
    reader = io.TextIOWrapper(io.BufferedReader(CappedStream(body, max_bytes)), encoding="utf-8", errors="replace")
    for line in reader:
        yield line.strip()
