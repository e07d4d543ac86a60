"""The generic declarative spider: discover article URLs from a Source, fetch the new ones.

Discovery reads feeds, sitemaps and paginated list pages; the store decides which
article URLs are already known, so an unchanged site costs only its discovery pages.
"""

from __future__ import annotations

import gzip
import io
import re
from collections import Counter
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Iterable

import feedparser
import scrapy
from scrapy.http import Request, Response
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.sitemap import Sitemap
from twisted.python.failure import Failure

from crawler.items import FetchedPage
from crawler.urls import canonical_url
from spiders.sources import Source
from storage.engine import resolve_db_url, session_factory
from storage.store import known_urls

NEXT_LINK_TEXTS = ("next", "next page", "next »", "»", "›", ">", "下一页", "下页", "后一页", "下一頁")
MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemap protocol's own limit for one uncompressed file
PAGE_PARAM = re.compile(r"([?&](?:page|p|pg|pageno|page_no)=)(\d+)", re.IGNORECASE)


def is_xpath(selector: str) -> bool:
    """Selectors starting with / or ( are XPath; everything else is CSS."""
    return selector.lstrip().startswith(("/", "("))


def select_all(response: Response, selector: str) -> list[str]:
    """Text values (hrefs) matched by a CSS or XPath selector."""
    if is_xpath(selector):
        return response.xpath(selector).getall()
    if "::" not in selector:
        selector = f"{selector}::attr(href)"
    return response.css(selector).getall()


class GenericSourceSpider(scrapy.Spider):
    """Crawls one Source declaration (set as the class attribute `source`)."""

    source: Source | None = None

    @classmethod
    def update_settings(cls, settings) -> None:
        super().update_settings(settings)
        if cls.source is not None:
            settings.set("DOWNLOAD_DELAY", cls.source.download_delay, priority="spider")
            settings.set("CONCURRENT_REQUESTS_PER_DOMAIN", cls.source.concurrency, priority="spider")
            settings.set("ROBOTSTXT_OBEY", cls.source.obey_robots, priority="spider")

    @classmethod
    def from_crawler(cls, crawler, *args: Any, **kwargs: Any):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.db = session_factory(resolve_db_url(crawler.settings.get("EXPOWATCH_DB_URL")))
        spider.backfill = crawler.settings.getbool("EXPOWATCH_BACKFILL")
        return spider

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.source is None:
            raise ValueError(f"spider {self.name!r} has no source declaration")
        self.errors: list[dict[str, str]] = []
        self.discovery: Counter[str] = Counter()  # "ok" / "failed" discovery fetches

    # -- discovery -------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Request]:
        src = self.source
        for url in src.feeds:
            yield self._discovery_request(url, self.parse_feed, "feed")
        for url in src.sitemaps:
            yield self._discovery_request(url, self.parse_sitemap, "sitemap")
        for url in src.list_pages:
            yield self._discovery_request(url, self.parse_list_page, "list", page_number=1)

    def _discovery_request(self, url: str, callback, kind: str, **meta: Any) -> Request:
        return Request(
            url,
            callback=callback,
            errback=self.request_failed,
            meta={"expowatch_kind": kind, **meta},
            dont_filter=False,
        )

    def parse_feed(self, response: Response):
        self.discovery["ok"] += 1
        feed = feedparser.parse(response.body, response_headers={"content-location": response.url})
        links = [entry.get("link") for entry in feed.entries if entry.get("link")]
        if not links and feed.bozo:
            self.record_error(response.url, f"feed not readable: {feed.bozo_exception}")
            return
        yield from self.article_requests(response.urljoin(link) for link in links)

    def parse_sitemap(self, response: Response):
        self.discovery["ok"] += 1
        body = response.body
        if body[:2] == b"\x1f\x8b":
            try:
                with gzip.GzipFile(fileobj=io.BytesIO(body)) as gz:
                    body = gz.read(MAX_SITEMAP_BYTES + 1)
            except (OSError, EOFError) as exc:
                self.record_error(response.url, f"sitemap gzip unreadable: {exc}")
                return
            if len(body) > MAX_SITEMAP_BYTES:
                self.record_error(response.url, "sitemap larger than 50 MB uncompressed; skipped")
                return
        try:
            sitemap = Sitemap(body)
        except Exception as exc:  # lxml raises several types on broken XML
            self.record_error(response.url, f"sitemap not readable: {exc}")
            return
        locs = [entry["loc"] for entry in sitemap if entry.get("loc")]
        if sitemap.type == "sitemapindex":
            for loc in locs:
                yield self._discovery_request(response.urljoin(loc), self.parse_sitemap, "sitemap")
        else:
            yield from self.article_requests(response.urljoin(loc) for loc in locs)

    def parse_list_page(self, response: Response):
        self.discovery["ok"] += 1
        src = self.source
        hrefs = select_all(response, src.article_links) if src.article_links else response.css("a::attr(href)").getall()
        requests = list(self.article_requests(response.urljoin(h) for h in hrefs))
        yield from requests
        page_number = response.meta.get("page_number", 1)
        if not requests and not self.backfill:
            self.logger.info("%s: list page %s has nothing new; stop paging", src.name, response.url)
            return
        next_url = self.next_page_url(response)
        if next_url is None:
            return
        if page_number >= src.max_pages:
            self.logger.warning("%s: page cap %d reached at %s; not following %s",
                                src.name, src.max_pages, response.url, next_url)
            self.crawler.stats.inc_value("expowatch/page_cap_reached")
            return
        yield self._discovery_request(next_url, self.parse_list_page, "list", page_number=page_number + 1)

    def next_page_url(self, response: Response) -> str | None:
        """The next list page: declared selector, rel=next, a 'next'/'下一页' link, or ?page=N+1."""
        if self.source.next_page:
            found = select_all(response, self.source.next_page)
            return response.urljoin(found[0]) if found else None
        rel_next = response.css('link[rel~="next"]::attr(href), a[rel~="next"]::attr(href)').get()
        if rel_next:
            return response.urljoin(rel_next)
        for anchor in response.css("a[href]"):
            text = " ".join(anchor.css("::text").getall()).strip().lower()
            if text in NEXT_LINK_TEXTS:
                return response.urljoin(anchor.attrib["href"])
        match = PAGE_PARAM.search(response.url)
        if match:
            number = int(match.group(2)) + 1
            return response.url[: match.start(2)] + str(number) + response.url[match.end(2):]
        return None

    # -- articles --------------------------------------------------------------------

    def article_requests(self, urls: Iterable[str]) -> Iterable[Request]:
        """Requests for the article URLs not already in the store (the store decides)."""
        pattern = self.source.article_regex
        candidates: dict[str, None] = {}
        for url in urls:
            if not url.startswith(("http://", "https://")):
                continue
            url = canonical_url(url)
            if pattern is None or pattern.search(url):
                candidates[url] = None
        if not candidates:
            return []
        with self.db() as session:
            seen = known_urls(session, list(candidates))
        self.crawler.stats.inc_value("expowatch/urls_known", len(seen))
        return [
            Request(url, callback=self.parse_article, errback=self.request_failed,
                    meta={"expowatch_kind": "article"})
            for url in candidates
            if url not in seen
        ]

    def parse_article(self, response: Response):
        content_type = response.headers.get(b"Content-Type", b"").decode("latin-1") or None
        charset = None
        if content_type:
            match = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type, re.IGNORECASE)
            charset = match.group(1) if match else None
        yield FetchedPage(
            source=self.name,
            url=response.url,
            request_url=response.meta.get("redirect_urls", [response.url])[0],
            status=response.status,
            body=response.body,
            http_charset=charset,
            content_type=content_type,
            fetched_at=datetime.now(timezone.utc),
            redirect_urls=list(response.meta.get("redirect_urls", [])),
        )

    # -- failures --------------------------------------------------------------------

    def request_failed(self, failure: Failure) -> None:
        request = failure.request
        if failure.check(HttpError):
            reason = f"HTTP {failure.value.response.status}"
        else:
            reason = f"{failure.type.__name__}: {failure.getErrorMessage()}"
        kind = request.meta.get("expowatch_kind", "other")
        if kind != "article":
            self.discovery["failed"] += 1
        self.record_error(request.url, reason, kind)

    def record_error(self, url: str, reason: str, kind: str = "discovery") -> None:
        """Remember a failure with its URL for the run record and the exit status."""
        self.errors.append({"url": url, "reason": reason, "kind": kind})
        self.crawler.stats.inc_value("expowatch/errors")
        self.logger.warning("%s: %s: %s", self.source.name, url, reason)
