"""The generic declarative spider: discover article URLs from a Source, fetch the new ones.

Discovery reads feeds, sitemaps and paginated list pages (spiders/discovery.py); the
store decides which article URLs are already known, so an unchanged site costs only its
discovery pages, and those are conditional GETs (crawler/middlewares.py).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Iterable

import scrapy
from parsel import Selector
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from crawler.engine.pace import CrawlClosed
from crawler.extract.encoding import decode_html
from crawler.extract.extraction import EXTRACTOR_VERSION
from crawler.extract.quality import REVISABLE_SKIPS
from crawler.items import FetchedPage
from crawler.runrecord import RESUME_SETTING, RUN_ID_ENV
from crawler.middlewares import GAVE_UP, KIND
from crawler.urls import canonical_url
from spiders.discovery import (
    DiscoveryError,
    Listing,
    list_page_links,
    matching_articles,
    next_page_url,
    read_feed,
    read_sitemap,
    robots_sitemaps,
    robots_url,
)
from spiders.sources import apply_politeness, Source
from storage.engine import resolve_db_url, session_factory
from storage.httpcache import checked_at
from storage.migrate import ensure_schema
from storage.runs import previous_run_unfinished
from storage.store import known_urls

# Request meta keys (besides crawler.middlewares.KIND).
DEPTH = "expowatch_depth"  # hops from a start URL: pagination steps, sitemap-index levels
PAGE_NUMBER = "expowatch_page"  # 1 for a declared list page, +1 per next page
KNOWN_STREAK = "expowatch_known_streak"  # consecutive list pages with nothing new
GUESSED = "expowatch_guessed"  # a ?page=N+1 URL no link pointed to
VIA = "expowatch_via"  # the discovery page an article was found on
LISTED_DATE = "expowatch_listed_date"  # ISO date a feed/sitemap gave the article
# Article statuses that are a verdict on the page: they go to the pipelines, which remember
# the URL as skipped (http_404 ...) so it is not fetched again. 5xx and 429 stay errors: retried next run.
PAGE_GONE_STATUSES = [400, 401, 403, 404, 410, 451]


def content_type_of(response: Response) -> str | None:
    """The Content-Type header as text."""
    return response.headers.get(b"Content-Type", b"").decode("latin-1") or None


def http_charset(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type header, as written."""
    match = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type or "", re.IGNORECASE)
    return match.group(1) if match else None


def list_page_selector(response: Response) -> Selector:
    """A list page parsed after deciding its encoding as article pages do (meta over a wrong header)."""
    decoded = decode_html(response.body, http_charset(content_type_of(response)))
    return Selector(text=decoded.text, base_url=response.url)


@dataclass(frozen=True)
class ListPage:
    """What a list page offers: article links (with dates if it shows them) and the next page."""

    links: list[Listing]
    next_url: str | None = None
    next_guessed: bool = False  # a ?page=N+1 URL no link pointed to: a 404 there just ends the list


@dataclass(frozen=True)
class Found:
    """Article links found on one discovery page, and requests for the ones not stored."""

    matching: int  # links matching the source's article pattern
    new: int  # of those, not in the store before this run
    requests: list[Request]


class GenericSourceSpider(scrapy.Spider):
    """Crawls one Source declaration (set as the class attribute `source`)."""

    source: Source | None = None

    @classmethod
    def update_settings(cls, settings) -> None:
        super().update_settings(settings)
        if cls.source is not None:
            apply_politeness(settings, cls.source)

    @classmethod
    def from_crawler(cls, crawler, *args: Any, **kwargs: Any):
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.db = None
        if not settings.getbool("EXPOWATCH_DRY_RUN"):  # a dry run neither reads nor creates a store
            url = resolve_db_url(settings.get("EXPOWATCH_DB_URL"))
            ensure_schema(url)  # `scrapy crawl NAME` may be the store's first use; cheap when current
            spider.db = session_factory(url, for_writing=False)  # the spider only reads: no write lock
        spider.backfill = settings.getbool("EXPOWATCH_BACKFILL") or spider._resuming(settings)
        spider.article_limit = settings.getint("EXPOWATCH_ARTICLE_LIMIT")  # 0: no limit
        spider.entries_per_file = max(1, settings.getint("EXPOWATCH_MAX_ENTRIES_PER_FILE"))
        spider.requests_per_round = max(1, settings.getint("EXPOWATCH_MAX_REQUESTS_PER_ROUND"))
        return spider

    def _resuming(self, settings) -> bool:
        """Page to the end when the last crawl of this source was killed, cut short or failed."""
        if self.db is None:
            return False
        if settings.get(RESUME_SETTING) is not None:  # read by the scheduler when it opened the run
            unfinished = settings.getbool(RESUME_SETTING)
        else:
            unfinished = self._last_run_unfinished(settings)
        if unfinished:
            self.logger.info("%s: the last crawl did not finish; paging to the end to resume it", self.source.name)
        return unfinished

    def _last_run_unfinished(self, settings) -> bool:
        handed_over = settings.get(RUN_ID_ENV) or os.environ.get(RUN_ID_ENV)
        exclude = int(handed_over) if handed_over and str(handed_over).isdigit() else None
        with self.db() as session:
            return previous_run_unfinished(session, self.source.name, exclude_run_id=exclude)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.source is None:
            raise ValueError(f"spider {self.name!r} has no source declaration")
        self.errors: list[dict[str, str]] = []
        self.discovery: Counter[str] = Counter()  # "ok" / "failed" / "not_modified" discovery fetches
        self.requested: set[str] = set()  # canonical article URLs requested in this run
        self.article_via: dict[str, str] = {}  # canonical article URL -> discovery page it came from
        self.discovery_seen: set[str] = set()  # discovery URLs requested in this run
        self.taken = 0  # article and child-sitemap requests made from discovery this round
        self.round_cap_noted = False
        # Discovery pages with an article that failed: their validators are not saved, so the
        # next run reads them again instead of getting a 304 and missing the article.
        self.unsettled_discovery: set[str] = set()

    # -- discovery -------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Request]:
        src = self.source
        if src.discover_sitemaps:
            url = robots_url(src.homepage or src.discovery_urls[0])
            self.discovery_seen.add(url)
            yield Request(url, callback=self.parse_robots, errback=self.request_failed, priority=10,
                          meta={KIND: "robots", DEPTH: 0, "dont_obey_robotstxt": True}, dont_filter=True)
        for url in src.feeds:
            yield self._discovery_request(url, self.parse_feed, "feed")
        for url in src.sitemaps:
            yield self._discovery_request(url, self.parse_sitemap, "sitemap")
        for url in src.list_pages:
            yield self._discovery_request(url, self.parse_list_page, "list", **{PAGE_NUMBER: 1})

    def _discovery_request(self, url: str, callback, kind: str, depth: int = 0, **meta: Any) -> Request:
        self.discovery_seen.add(url)
        return Request(
            url,
            callback=callback,
            errback=self.request_failed,
            meta={KIND: kind, DEPTH: depth, "handle_httpstatus_list": [304], **meta},
            priority=10,  # discovery first: it decides what else to fetch
            # The spider de-duplicates itself (discovery_seen, requested); Scrapy's filter would
            # silently drop a redirect back to a URL of this run, so a redirect loop went unrecorded.
            dont_filter=True,
        )

    def _not_modified(self, response: Response) -> bool:
        """True (and counted) when a discovery page answered 304: nothing to parse."""
        if response.status != 304:
            return False
        self.discovery["ok"] += 1
        self.discovery["not_modified"] += 1
        self.crawler.stats.inc_value("expowatch/discovery/not_modified")
        self.logger.debug("%s: %s not modified since the last run", self.source.name, response.url)
        return True

    def _unreadable(self, response: Response, error: DiscoveryError) -> None:
        self.discovery["failed"] += 1
        self.record_error(response.url, str(error), response.meta.get(KIND, "discovery"))

    def parse_robots(self, response: Response):
        """robots.txt `Sitemap:` lines (discover_sitemaps = true): each one is read as a declared sitemap."""
        found = robots_sitemaps(response.body.decode("utf-8", "replace"), response.url)
        if not found:
            self.discovery["failed"] += 1
            self.record_error(response.url, "discover_sitemaps = true, but robots.txt lists no Sitemap: line",
                              "robots")
            return
        self.discovery["ok"] += 1
        for url in found:
            if url not in self.discovery_seen:
                yield self._discovery_request(url, self.parse_sitemap, "sitemap")

    async def parse_feed(self, response: Response):
        if self._not_modified(response):
            return
        try:
            doc = read_feed(response.body, response.url, content_type_of(response), self.entries_per_file)
        except DiscoveryError as exc:
            self._unreadable(response, exc)
            return
        self.discovery["ok"] += 1
        self._note_left_out(response.url, doc.total, len(doc.entries))
        for request in (await self.find_articles(doc.entries, via=response.url)).requests:
            yield request

    def _note_left_out(self, url: str, total: int, kept: int) -> None:
        """Record (stats, log) a file whose entries went past EXPOWATCH_MAX_ENTRIES_PER_FILE."""
        if total > kept:
            self.crawler.stats.inc_value("expowatch/discovery/entries_left_out", total - kept)
            self._cap_reached(f"{url} lists {total} entries; took the newest {kept} "
                              f"(EXPOWATCH_MAX_ENTRIES_PER_FILE = {self.entries_per_file})")

    async def parse_sitemap(self, response: Response):
        """Read off the reactor thread: a million-entry sitemap takes seconds, other downloads go on."""
        if self._not_modified(response):
            return
        try:
            doc = await maybe_deferred_to_future(
                deferToThread(read_sitemap, response.body, response.url, self.entries_per_file))
        except DiscoveryError as exc:
            self._unreadable(response, exc)
            return
        self.discovery["ok"] += 1
        self._note_left_out(response.url, doc.total, len(doc.entries))
        if doc.kind != "sitemapindex":  # a urlset, or a feed given as a sitemap
            for request in (await self.find_articles(doc.entries, via=response.url)).requests:
                yield request
            return
        depth = response.meta.get(DEPTH, 0) + 1
        if depth > self.source.max_depth:
            self._cap_reached(f"sitemap index nesting is deeper than max_depth = {self.source.max_depth} "
                              f"at {response.url}; not following its {len(doc.entries)} sitemaps")
            return
        for child in await self._changed_sitemaps(doc.entries):
            if child.url not in self.discovery_seen:
                if self._round_full(response.url):
                    return
                self.taken += 1
                yield self._discovery_request(child.url, self.parse_sitemap, "sitemap", depth)

    async def _changed_sitemaps(self, children: list[Listing]) -> list[Listing]:
        """Child sitemaps whose lastmod is newer than our last complete read of them (read in a thread)."""
        if self.backfill or self.db is None:
            return children
        last_read = await maybe_deferred_to_future(deferToThread(
            self._read_store, checked_at, [c.url for c in children if c.published]))
        changed = [c for c in children if c.url not in last_read or c.published > last_read[c.url]]
        if len(changed) < len(children):
            self.crawler.stats.inc_value("expowatch/discovery/sitemaps_unchanged", len(children) - len(changed))
        return changed

    def read_list_page(self, response: Response) -> ListPage:
        """Article links and the next page of a list page. Override for lists that are not HTML."""
        page = list_page_selector(response)
        links = list_page_links(page, response.url, self.source.article_links)
        next_url, guessed = next_page_url(page, response.url, self.source.next_page)
        return ListPage([Listing(u) for u in links], next_url, guessed)

    async def parse_list_page(self, response: Response):
        if self._not_modified(response):
            return
        src = self.source
        try:
            listed = self.read_list_page(response)
        except DiscoveryError as exc:
            self._unreadable(response, exc)
            return
        self.discovery["ok"] += 1
        found = await self.find_articles(listed.links, via=response.url)
        for request in found.requests:
            yield request
        number = response.meta.get(PAGE_NUMBER, 1)
        if found.matching == 0:
            if number == 1:
                self.record_error(response.url, "list page has no links matching the source's "
                                  "article_pattern / article_links", "list")
            else:
                self.logger.info("%s: %s lists no articles: end of the list", src.name, response.url)
            return
        if self.limit_reached or self.taken >= self.requests_per_round:  # the rest waits for the next round
            return
        streak = 0 if found.new else response.meta.get(KNOWN_STREAK, 0) + 1
        if not self.backfill and streak >= src.stop_after_known_pages:
            self.logger.info("%s: %s has nothing new; stop paging", src.name, response.url)
            return
        next_url = listed.next_url
        if next_url is None:
            return
        if next_url in self.discovery_seen:
            self.logger.info("%s: next page of %s leads back to %s; stop paging", src.name, response.url, next_url)
            return
        if number >= src.max_pages:
            self._cap_reached(f"page cap max_pages = {src.max_pages} reached at {response.url}; "
                              f"not following {next_url}")
            return
        yield self._discovery_request(next_url, self.parse_list_page, "list", response.meta.get(DEPTH, 0) + 1,
                                      **{PAGE_NUMBER: number + 1, KNOWN_STREAK: streak, GUESSED: listed.next_guessed})

    def _cap_reached(self, message: str) -> None:
        """A discovery cap was hit: logged, counted, and the reason kept in the run's stats."""
        self.logger.warning("%s: %s", self.source.name, message)
        self.crawler.stats.inc_value("expowatch/discovery/cap_reached")
        self.crawler.stats.set_value("expowatch/discovery/cap_reason", message)

    def _round_full(self, url: str) -> bool:
        """True (recorded once) when this round has taken EXPOWATCH_MAX_REQUESTS_PER_ROUND entries.

        The discovery page at url is then not settled: its validators are not saved, so the next
        round reads it again (no 304) and takes what this one left.
        """
        if self.taken < self.requests_per_round:
            return False
        self.unsettled_discovery.add(url)
        if not self.round_cap_noted:
            self.round_cap_noted = True
            self._cap_reached(f"{self.requests_per_round} requests taken from discovery this round "
                              f"(EXPOWATCH_MAX_REQUESTS_PER_ROUND), at {url}; the rest waits for the next round")
        return True

    # -- articles --------------------------------------------------------------------

    async def find_articles(self, listings: Iterable[Listing], *, via: str) -> Found:
        """Requests for the article links not already in the store (the store decides, read in a thread:
        the reactor, and an engine's other crawls, go on meanwhile).

        Links are matched against the article pattern as found and as canonical URLs;
        the link is requested as found, and known by its canonical URL.
        """
        candidates = matching_articles(listings, self.source.article_regex)
        seen = await self._stored(candidates)
        self.crawler.stats.inc_value("expowatch/urls_known", len(seen))
        requests = []
        for canonical, listing in candidates.items():
            if canonical in seen or canonical in self.requested:
                continue
            if self.limit_reached or self._round_full(via):
                break
            self.taken += 1
            self.requested.add(canonical)
            self.article_via[canonical] = via
            meta = {KIND: "article", VIA: via, "handle_httpstatus_list": PAGE_GONE_STATUSES}
            if listing.published:
                meta[LISTED_DATE] = listing.published.isoformat()
            requests.append(Request(listing.url, callback=self.parse_article, errback=self.request_failed,
                                    meta=meta, dont_filter=True))
        # Stored during this run (found first in a feed, say) still counts as new for paging:
        # otherwise a first crawl would stop at a list page the feed had already covered.
        new = sum(1 for c in candidates if c not in seen or c in self.requested)
        return Found(matching=len(candidates), new=new, requests=requests)

    @property
    def limit_reached(self) -> bool:
        """True once a dry run's article limit has been requested."""
        return bool(self.article_limit) and len(self.requested) >= self.article_limit

    async def _stored(self, canonical_urls: Iterable[str]) -> set[str]:
        if self.db is None:  # a dry run reads no store
            return set()
        urls = list(canonical_urls)
        if not urls:
            return set()
        return await maybe_deferred_to_future(deferToThread(
            self._read_store, known_urls, urls, extractor_version=EXTRACTOR_VERSION, revisable=REVISABLE_SKIPS))

    def _read_store(self, read, *args: Any, **kwargs: Any):
        """read(session, *args, **kwargs) in a session of its own (called in a thread, off the reactor)."""
        with self.db() as session:
            return read(session, *args, **kwargs)

    def parse_article(self, response: Response):
        if response.url != response.request.url and response.meta.get(VIA):
            try:  # errors are reported under the final URL after a redirect
                self.article_via.setdefault(canonical_url(response.url), response.meta[VIA])
            except ValueError:
                pass
        content_type = content_type_of(response)
        yield FetchedPage(
            source=self.name,
            url=response.url,
            request_url=response.meta.get("redirect_urls", [response.url])[0],
            status=response.status,
            body=response.body,
            http_charset=http_charset(content_type),
            content_type=content_type,
            fetched_at=datetime.now(timezone.utc),
            redirect_urls=list(response.meta.get("redirect_urls", [])),
            listed_date=response.meta.get(LISTED_DATE),
        )

    # -- failures --------------------------------------------------------------------

    def request_failed(self, failure: Failure) -> None:
        request = failure.request
        kind = request.meta.get(KIND, "other")
        if failure.check(CrawlClosed):  # the engine closed this crawl (timeout, shutdown): no verdict on the site
            self.logger.info("%s: %s not fetched: %s", self.source.name, request.url, failure.getErrorMessage())
            return
        if failure.check(IgnoreRequest) and failure.getErrorMessage() == "Forbidden by robots.txt":
            self.crawler.stats.inc_value("expowatch/robots_forbidden")
            if kind == "article":  # the site's decision, not a failure: nothing to retry next run
                self.logger.info("%s: %s forbidden by robots.txt", self.source.name, request.url)
                return
        if failure.check(HttpError):
            response = failure.value.response
            if response.status == 404 and request.meta.get(GUESSED):
                self.logger.info("%s: guessed next page %s does not exist: end of the list",
                                 self.source.name, request.url)
                return
            reason = response.meta.get(GAVE_UP) or f"HTTP {response.status}"
        else:
            reason = self.failure_reason(failure)
        if kind != "article":
            self.discovery["failed"] += 1
        self.record_error(request.url, reason, kind)

    def failure_reason(self, failure: Failure) -> str:
        """The exception's name and message; in words where Scrapy gives no message."""
        name = failure.type.__name__
        message = failure.getErrorMessage().strip()
        if not message or message == name:
            settings, meta = self.crawler.settings, failure.request.meta
            words = {
                "DownloadCancelledError": "download cancelled: body larger than DOWNLOAD_MAXSIZE "
                                          f"({meta.get('download_maxsize', settings.getint('DOWNLOAD_MAXSIZE'))} bytes)",
                "ResponseDataLossError": "connection closed before the whole body (Content-Length) arrived",
                "DownloadTimeoutError": "no complete answer within DOWNLOAD_TIMEOUT "
                                        f"({meta.get('download_timeout', settings.getfloat('DOWNLOAD_TIMEOUT')):g} s)",
                "DownloadConnectionRefusedError": "connection refused",
                "CannotResolveHostError": "the host name could not be resolved",
            }
            message = words.get(name, "the download failed without details")
        return f"{name}: {message}"

    def record_error(self, url: str, reason: str, kind: str = "discovery") -> None:
        """Remember a failure with its URL for the run record and the exit status."""
        if kind == "article":
            try:
                via = self.article_via.get(canonical_url(url))
            except ValueError:
                via = None
            self.unsettled_discovery.add(via or "*")  # "*": which page is unknown, so none is settled
        self.errors.append({"url": url, "reason": reason, "kind": kind})
        self.crawler.stats.inc_value("expowatch/errors")
        self.logger.warning("%s: %s: %s", self.source.name, url, reason)
