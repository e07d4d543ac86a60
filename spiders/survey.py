"""Surveying a site from its homepage: which feeds, sitemaps and list pages it offers.

SiteSurveySpider is a small Scrapy spider, so the survey fetches through the same
address guard, size caps, robots.txt and politeness as a crawl. It stores nothing: it
fills a Survey (plain data) that spiders/proposal.py turns into a declaration.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, AsyncIterator
from urllib.parse import urlsplit

import scrapy
from scrapy.http import Request, Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawler.middlewares import KIND
from spiders.discovery import DiscoveryError, Listing, list_page_links, read_feed, read_sitemap, robots_sitemaps, robots_url
from spiders.generic import content_type_of, list_page_selector
from spiders.proposal import looks_like_article, offsets_in
from spiders.sources import apply_politeness, Source

# Where sites commonly publish feeds and sitemaps (the sitemap guesses are trafilatura's,
# plus the usual names of Google News sitemaps).
COMMON_FEEDS = ("/feed", "/feed/", "/rss", "/rss.xml", "/atom.xml", "/feed.xml", "/index.xml", "/feed.json")
NEWS_SITEMAPS = ("/news-sitemap.xml", "/sitemap-news.xml")
# Navigation pages probed as possible list pages: a menu rarely has more worth trying.
MAX_LIST_CANDIDATES = 15
# Child sitemaps of an index read during the survey (enough to see the article URLs' shape).
MAX_CHILD_SITEMAPS = 10
# Entries kept per feed or sitemap during the survey (the shape needs a sample, not all).
SURVEY_ENTRIES = 5000
# Characters of a body scanned for date offsets.
OFFSET_SCAN_CHARS = 1_000_000
DEPTH = "expowatch_survey_depth"


def common_sitemaps() -> tuple[str, ...]:
    """Sitemap locations worth probing: trafilatura's guesses and news sitemap names."""
    from trafilatura.sitemaps import GUESSES

    return tuple("/" + guess.lstrip("/") for guess in GUESSES) + NEWS_SITEMAPS


@dataclass
class Survey:
    """What a site survey found (URLs absolute; entries as read)."""

    homepage: str
    home_url: str | None = None  # after redirects
    home_error: str | None = None
    lang: str | None = None
    icp_licence: bool = False  # the page carries a Chinese ICP licence number (a site hosted in China)
    home_links: list[str] = field(default_factory=list)
    feeds: dict[str, list[Listing]] = field(default_factory=dict)
    linked_feeds: list[str] = field(default_factory=list)
    sitemaps: dict[str, tuple[str, list[Listing]]] = field(default_factory=dict)
    robots_sitemaps: list[str] = field(default_factory=list)
    list_pages: dict[str, list[str]] = field(default_factory=dict)
    offsets: Counter = field(default_factory=Counter)
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def origin(self) -> str:
        parts = urlsplit(self.home_url or self.homepage)
        return f"{parts.scheme}://{parts.netloc}"


class SiteSurveySpider(scrapy.Spider):
    """Fetch a homepage, robots.txt, feed and sitemap candidates and navigation pages; fill a Survey."""

    name = "expowatch-survey"
    source: Source | None = None  # the address guard reads allow_private_addresses from it

    @classmethod
    def update_settings(cls, settings) -> None:
        """The source's politeness, as a crawl of it would have (see GenericSourceSpider)."""
        super().update_settings(settings)
        if cls.source is not None:
            apply_politeness(settings, cls.source)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.source is None or not self.source.homepage:
            raise ValueError("a site survey needs a source with a homepage")
        self.survey = Survey(self.source.homepage)
        self.seen: set[str] = set()

    async def start(self) -> AsyncIterator[Request]:
        yield Request(self.survey.homepage, callback=self.parse_home, errback=self.home_failed,
                      meta={KIND: "home"}, dont_filter=True)

    def _request(self, url: str, callback, kind: str, **meta: Any) -> list[Request]:
        """A request for a URL not asked for yet in this survey (else none)."""
        url = url.split("#")[0]
        if url in self.seen or not url.startswith(("http://", "https://")):
            return []
        self.seen.add(url)
        return [Request(url, callback=callback, errback=self.candidate_failed, meta={KIND: kind, **meta},
                        dont_filter=True)]

    # -- the homepage ----------------------------------------------------------------

    def parse_home(self, response: Response):
        survey = self.survey
        survey.home_url = response.url
        content_type = content_type_of(response) or ""
        head = response.body[:1024].lstrip().lower()
        if "html" not in content_type.lower() and not head.startswith((b"<!doctype html", b"<html")):
            survey.home_error = f"not an HTML page (Content-Type: {content_type or 'none'})"
            return
        page = list_page_selector(response)
        survey.lang = page.xpath("/html/@lang").get() or page.xpath("//meta[@http-equiv='content-language']/@content").get()
        text = response.body.decode("utf-8", "replace")
        survey.icp_licence = "ICP备" in text or "ICP證" in text
        survey.offsets.update(offsets_in(text[:OFFSET_SCAN_CHARS]))
        origin = survey.origin
        links = [u for u in list_page_links(page, response.url, None) if urlsplit(u).netloc == urlsplit(origin).netloc]
        survey.home_links = list(dict.fromkeys(u.split("#")[0] for u in links))
        self.seen.add(response.url)
        yield from self._request(robots_url(response.url), self.parse_robots, "robots", dont_obey_robotstxt=True)
        from trafilatura.feeds import FeedParameters, determine_feed

        params = FeedParameters(origin, urlsplit(origin).netloc, response.url)
        linked = [u for u in determine_feed(text, params) if u.startswith(("http://", "https://"))]
        linked += [response.urljoin(h) for h in page.css(
            'link[rel~="alternate"][type*="json"]::attr(href)').getall()]  # JSON Feed links
        survey.linked_feeds = list(dict.fromkeys(linked))
        for url in survey.linked_feeds + [origin + path for path in COMMON_FEEDS]:
            yield from self._request(url, self.parse_feed, "feed")
        for url in [origin + path for path in common_sitemaps()]:
            yield from self._request(url, self.parse_sitemap, "sitemap", **{DEPTH: 0})
        navigation = [u for u in survey.home_links if not looks_like_article(u) and u.rstrip("/") != origin
                      and not urlsplit(u).path.endswith((".xml", ".json", ".gz", ".pdf", ".jpg", ".png"))]
        for url in navigation[:MAX_LIST_CANDIDATES]:
            yield from self._request(url, self.parse_list_candidate, "list")

    def home_failed(self, failure: Failure) -> None:
        self.survey.home_error = self.reason(failure)

    # -- candidates ------------------------------------------------------------------

    def parse_robots(self, response: Response):
        found = robots_sitemaps(response.body.decode("utf-8", "replace"), response.url)
        self.survey.robots_sitemaps = found
        for url in found:
            yield from self._request(url, self.parse_sitemap, "sitemap", **{DEPTH: 0})

    def parse_feed(self, response: Response) -> None:
        try:
            doc = read_feed(response.body, response.url, content_type_of(response), SURVEY_ENTRIES)
        except DiscoveryError:
            return  # a guessed location that is not a feed: nothing to say
        if doc.entries:
            self.survey.feeds[response.url] = doc.entries
            self.survey.offsets.update(offsets_in(response.body[:OFFSET_SCAN_CHARS].decode("utf-8", "replace")))

    def parse_sitemap(self, response: Response):
        try:
            doc = read_sitemap(response.body, response.url, SURVEY_ENTRIES)
        except DiscoveryError:
            return
        if not doc.entries:
            return
        self.survey.sitemaps[response.url] = (doc.kind, doc.entries)
        if response.body[:2] != b"\x1f\x8b":
            self.survey.offsets.update(offsets_in(response.body[:OFFSET_SCAN_CHARS].decode("utf-8", "replace")))
        depth = response.meta.get(DEPTH, 0)
        if doc.kind == "sitemapindex" and depth < 2:
            for child in doc.entries[:MAX_CHILD_SITEMAPS]:
                yield from self._request(child.url, self.parse_sitemap, "sitemap", **{DEPTH: depth + 1})

    def parse_list_candidate(self, response: Response) -> None:
        if "html" not in (content_type_of(response) or "").lower():
            return
        page = list_page_selector(response)
        netloc = urlsplit(self.survey.origin).netloc
        links = [u.split("#")[0] for u in list_page_links(page, response.url, None) if urlsplit(u).netloc == netloc]
        self.survey.list_pages[response.url] = list(dict.fromkeys(links))
        self.survey.offsets.update(offsets_in(response.text[:OFFSET_SCAN_CHARS]))

    def candidate_failed(self, failure: Failure) -> None:
        """A guessed location that does not exist is expected; other failures are kept for the report."""
        if failure.check(HttpError) and failure.value.response.status in (404, 410):
            return
        self.record_error(failure.request.url, self.reason(failure), failure.request.meta.get(KIND, "other"))

    def record_error(self, url: str, reason: str, kind: str = "other") -> None:
        """Kept for the report (also where the address guard reports a refused robots.txt)."""
        self.survey.errors.append({"url": url, "reason": reason, "kind": kind})

    @staticmethod
    def reason(failure: Failure) -> str:
        if failure.check(HttpError):
            return f"HTTP {failure.value.response.status}"
        message = failure.getErrorMessage().strip()
        name = failure.type.__name__
        return f"{name}: {message}" if message and message != name else name


def survey_spider_for(source: Source) -> type[SiteSurveySpider]:
    """A survey spider class for one homepage (settings are per class, as for source spiders)."""
    return type("SiteSurveySpider_" + source.name.replace("-", "_"), (SiteSurveySpider,),
                {"source": source, "__module__": SiteSurveySpider.__module__})
