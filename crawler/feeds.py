"""Atom feeds of the newest matches of a search or an event (`expowatch feed`, the web view).

    from crawler.feeds import FeedRequest, render_feed
    with session_factory(url, for_writing=False)() as session:
        request = FeedRequest(event="smart-china-expo")
    xml = render_feed(session, request.query(), title=request.title())

Entry ids are tag: URIs made from the article's canonical URL, so the same story has
the same id in every run, on every machine and after the store is copied: a feed
reader never shows it twice. The feed's own id is made from the query and filters
(not their order or paging), and its `updated` is the newest entry's, so running it
again with nothing new gives the same document.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Sequence

from sqlalchemy.orm import Session

from storage.queries import FullArticle, SearchQuery, iter_articles, saved_query_name

FEED_LIMIT = 50  # entries in a feed: readers poll often and keep what they saw; 50 covers a busy day
SUMMARY_CHARS = 400  # text shown per entry: a paragraph, enough to decide whether to open it
TAG_AUTHORITY = "expowatch.invalid,2024"  # tag: URI authority (RFC 4151); .invalid never names a real host
GENERATOR = "expowatch"
EMPTY_FEED_UPDATED = datetime(2024, 1, 1, tzinfo=timezone.utc)  # a feed with no entries still needs a date
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # characters XML 1.0 cannot carry


@dataclass(frozen=True)
class FeedRequest:
    """What a feed follows: search text and/or one event, optionally some sources."""

    text: str = ""
    event: str | None = None
    sources: tuple[str, ...] = ()
    limit: int = FEED_LIMIT

    def query(self) -> SearchQuery:
        return SearchQuery(text=self.text, events=(self.event,) if self.event else (), sources=self.sources,
                           limit=self.limit)

    def title(self) -> str:
        parts = [f"event {self.event}" if self.event else "", f"“{self.text}”" if self.text else "",
                 f"from {', '.join(self.sources)}" if self.sources else ""]
        return "expowatch: " + (" ".join(p for p in parts if p) or "newest articles")


def feed_for_query(query: SearchQuery, limit: int = FEED_LIMIT) -> SearchQuery:
    """query as a feed runs it: newest first, the first `limit` matches."""
    return replace(query, sort="published", limit=limit, offset=0)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def entry_id(canonical_url: str) -> str:
    """The stable Atom id of an article: a tag: URI from its canonical URL."""
    return f"tag:{TAG_AUTHORITY}:article/{_hash(canonical_url)}"


def feed_id(query: SearchQuery) -> str:
    """The stable Atom id of a feed: a tag: URI from its query and filters."""
    return f"tag:{TAG_AUTHORITY}:feed/{_hash(saved_query_name(query))}"


def _clean(value: str | None) -> str:
    return XML_INVALID.sub("", value or "")


def _summary(text: str) -> str:
    text = " ".join(_clean(text).split())
    return text if len(text) <= SUMMARY_CHARS else text[:SUMMARY_CHARS].rsplit(" ", 1)[0] + " …"


def _entry_date(article: FullArticle) -> datetime:
    return article.published_at or article.first_seen_at


def build_feed(articles: Sequence[FullArticle], *, title: str, feed_uri: str, self_url: str | None = None,
               alternate_url: str | None = None) -> bytes:
    """An Atom document (UTF-8 bytes) with one entry per article, in the order given; each
    entry links to the article's canonical URL (feedgen 1.0 writes no `rel` on entry links,
    so an entry carries exactly one link: the story itself)."""
    from feedgen.feed import FeedGenerator

    generator = FeedGenerator()
    generator.id(feed_uri)
    generator.title(_clean(title))
    generator.author({"name": GENERATOR})
    generator.generator(GENERATOR)
    if self_url:
        generator.link(href=self_url, rel="self", type="application/atom+xml")
    if alternate_url:
        generator.link(href=alternate_url, rel="alternate", type="text/html")
    generator.updated(max((a.first_seen_at for a in articles), default=EMPTY_FEED_UPDATED))
    for article in articles:
        entry = generator.add_entry(order="append")
        entry.id(entry_id(article.url))
        entry.title(_clean(article.title) or article.url)
        entry.link(href=article.url)
        entry.published(_entry_date(article))
        entry.updated(article.updated_at or _entry_date(article))
        entry.summary(_summary(article.text))
        entry.author({"name": _clean(article.source)})
        for tag in article.events:
            entry.category(term=tag.event, label=f"{tag.event} ({tag.role})")
    return generator.atom_str(pretty=True)


def newest_matches(session: Session, query: SearchQuery, limit: int = FEED_LIMIT) -> list[FullArticle]:
    """The newest `limit` articles matching query, every field (what a feed lists)."""
    return list(iter_articles(session, feed_for_query(query, limit)))


def render_feed(session: Session, query: SearchQuery, *, title: str, limit: int = FEED_LIMIT,
                self_url: str | None = None, alternate_url: str | None = None) -> bytes:
    """The Atom feed of the newest `limit` matches of query (any search's filters)."""
    return build_feed(newest_matches(session, query, limit), title=title, feed_uri=feed_id(query),
                      self_url=self_url, alternate_url=alternate_url)
