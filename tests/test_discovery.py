"""Reading feeds, sitemaps and list pages (spiders/discovery.py) and the retry arithmetic."""

from __future__ import annotations

import gzip
from datetime import datetime, timezone
from pathlib import Path

import pytest
from parsel import Selector

from crawler.middlewares import backoff_delay, parse_retry_after
from spiders.discovery import (
    DiscoveryError,
    gunzip_capped,
    list_page_links,
    next_page_url,
    parse_w3c_datetime,
    read_feed,
    read_sitemap,
)

FEED_URL = "https://expo.example.cn/feeds/news.xml"


# -- feeds ---------------------------------------------------------------------------

RSS_RELATIVE = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Expo news</title><link>https://expo.example.cn/</link>
<item><title>Opening day</title><link>/news/2024/0901.html</link>
  <pubDate>Sun, 01 Sep 2024 09:30:00 +0800</pubDate></item>
<item><title>Hall map</title><link>halls.html</link></item>
<item><title>Permalink only</title><guid isPermaLink="true">https://expo.example.cn/news/2024/0902.html</guid></item>
<item><title>No link at all</title><description>nothing to follow</description></item>
</channel></rss>"""


def test_rss_links_resolve_against_the_feed_and_dates_are_optional():
    listings = read_feed(RSS_RELATIVE, FEED_URL, "application/rss+xml").entries
    assert [item.url for item in listings] == [
        "https://expo.example.cn/news/2024/0901.html",
        "https://expo.example.cn/feeds/halls.html",
        "https://expo.example.cn/news/2024/0902.html",
    ]
    assert listings[0].published == datetime(2024, 9, 1, 1, 30, tzinfo=timezone.utc)
    assert listings[1].published is None


def test_atom_uses_xml_base_and_updated():
    atom = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://wire.example.com/en/">
    <title>Wire</title><entry><title>a</title><link href="releases/77"/><updated>2023-05-18T08:00:00Z</updated></entry>
    </feed>"""
    (item,) = read_feed(atom, "https://wire.example.com/atom", "application/atom+xml").entries
    assert item.url == "https://wire.example.com/en/releases/77"
    assert item.published == datetime(2023, 5, 18, 8, tzinfo=timezone.utc)


def test_broken_xml_keeps_the_entries_it_can_read():
    broken = (b'<rss version="2.0"><channel><item><link>https://a.example/1</link></item>'
              b"<item><title>R&D & more</title><link>https://a.example/2</link></item>")
    assert [i.url for i in read_feed(broken, FEED_URL).entries] == ["https://a.example/1", "https://a.example/2"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html><body><a href='/x'>news</a></body></html>", "HTML page"),
        (b"this is not xml at all", "not an RSS or Atom feed"),
        (b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>x</ti', "broken"),
        (b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>x</title></item></channel></rss>',
         "has a link"),
    ],
)
def test_unreadable_feeds_say_why(body, words):
    with pytest.raises(DiscoveryError, match=words):
        read_feed(body, FEED_URL, "application/xml")


def test_empty_but_valid_feed_is_not_an_error():
    assert read_feed(b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>',
                     FEED_URL, "application/rss+xml").entries == []


# -- sitemaps ------------------------------------------------------------------------

URLSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://expo.example.cn/news/1.html</loc><lastmod>2024-06-01</lastmod></url>
  <url><loc> https://expo.example.cn/news/2.html </loc></url>
</urlset>"""

NEWS_SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url><loc>https://news.example.com/a/9.html</loc><lastmod>2024-06-03T00:00:00Z</lastmod>
    <news:news><news:publication><news:name>Example</news:name><news:language>zh</news:language></news:publication>
      <news:publication_date>2024-06-02T18:45:00+08:00</news:publication_date><news:title>t</news:title>
    </news:news></url>
</urlset>"""

INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://expo.example.cn/sitemap-news.xml.gz</loc><lastmod>2024-06-04T10:00:00+00:00</lastmod></sitemap>
  <sitemap><loc>/sitemap-2023.xml</loc></sitemap>
</sitemapindex>"""


def test_urlset_with_lastmod():
    doc = read_sitemap(URLSET, "https://expo.example.cn/sitemap.xml")
    assert doc.kind == "urlset"
    assert [e.url for e in doc.entries] == ["https://expo.example.cn/news/1.html", "https://expo.example.cn/news/2.html"]
    assert doc.entries[0].published == datetime(2024, 6, 1, tzinfo=timezone.utc)
    assert doc.entries[1].published is None


def test_news_sitemap_prefers_publication_date():
    (entry,) = read_sitemap(NEWS_SITEMAP, "https://news.example.com/news-sitemap.xml").entries
    assert entry.published == datetime(2024, 6, 2, 10, 45, tzinfo=timezone.utc)


def test_index_children_resolve_and_carry_lastmod():
    doc = read_sitemap(INDEX, "https://expo.example.cn/sitemap_index.xml")
    assert doc.kind == "sitemapindex"
    assert [e.url for e in doc.entries] == ["https://expo.example.cn/sitemap-news.xml.gz",
                                            "https://expo.example.cn/sitemap-2023.xml"]
    assert doc.entries[0].published == datetime(2024, 6, 4, 10, tzinfo=timezone.utc)


def test_gzip_sitemap_is_read_and_a_bomb_is_refused():
    doc = read_sitemap(gzip.compress(URLSET), "https://expo.example.cn/sitemap.xml.gz")
    assert len(doc.entries) == 2
    with pytest.raises(DiscoveryError, match="larger than"):
        gunzip_capped(gzip.compress(b"\0" * 3 * 1024 * 1024), limit=1024 * 1024)
    with pytest.raises(DiscoveryError, match="gzip is unreadable"):
        read_sitemap(b"\x1f\x8b" + b"not really gzip", "https://expo.example.cn/s.xml.gz")


def test_text_sitemap_is_a_list_of_urls():
    doc = read_sitemap(b"https://a.example/1.html\nhttps://a.example/2.html\n", "https://a.example/sitemap.txt")
    assert [e.url for e in doc.entries] == ["https://a.example/1.html", "https://a.example/2.html"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "empty"),
        (b"<html><body>Not found</body></html>", "HTML page"),
        (b'<?xml version="1.0"?><catalog><book/></catalog>', "root element is <catalog>"),
        (b"just some words\nand more words", "neither XML nor a list of URLs"),
    ],
)
def test_unreadable_sitemaps_say_why(body, words):
    with pytest.raises(DiscoveryError, match=words):
        read_sitemap(body, "https://a.example/sitemap.xml")


def test_external_entities_are_never_resolved():
    evil = (b'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY e SYSTEM "file:///etc/hostname">]>'
            b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://a.example/&e;</loc></url></urlset>')
    try:
        doc = read_sitemap(evil, "https://a.example/sitemap.xml")
    except DiscoveryError:
        return
    secret = Path("/etc/hostname").read_text().strip()
    assert all(secret not in e.url for e in doc.entries)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-06-01", datetime(2024, 6, 1, tzinfo=timezone.utc)),
        ("2024-06-01T10:00Z", datetime(2024, 6, 1, 10, tzinfo=timezone.utc)),
        ("2024-06-01T10:00:00+08:00", datetime(2024, 6, 1, 2, tzinfo=timezone.utc)),
        ("last tuesday", None),
        (None, None),
    ],
)
def test_w3c_datetimes(text, expected):
    assert parse_w3c_datetime(text) == expected


# -- list pages ------------------------------------------------------------------------

LIST_URL = "https://expo.example.cn/news/index.html"


def page(body: str) -> Selector:
    return Selector(text=f"<html><body>{body}</body></html>")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('<link rel="next" href="index_2.html"><a href="/x">x</a>', "https://expo.example.cn/news/index_2.html"),
        ('<a href="index_2.html">下一页</a>', "https://expo.example.cn/news/index_2.html"),
        ('<a href="list?pn=2"> 下一頁 </a>', "https://expo.example.cn/news/list?pn=2"),
        ('<a href="?page=2">Next »</a>', "https://expo.example.cn/news/index.html?page=2"),
        ('<a href="p2.html" aria-label="Next page"><svg/></a>', "https://expo.example.cn/news/p2.html"),
        ('<a href="old.html">Older posts</a>', "https://expo.example.cn/news/old.html"),
        ('<a href="index.html?page=1">1</a><a href="index.html?page=2">2</a><a href="index.html?page=3">3</a>',
         "https://expo.example.cn/news/index.html?page=2"),
    ],
)
def test_next_page_is_found_the_way_sites_write_it(body, expected):
    assert next_page_url(page(body), LIST_URL) == (expected, False)


def test_no_next_page_on_the_last_page():
    body = '<a href="/news/1.html">Next generation robots on show</a><a href="index.html?page=1">1</a>'
    assert next_page_url(page(body), LIST_URL) == (None, False)


def test_page_parameter_is_guessed_only_when_the_url_has_one():
    assert next_page_url(page("<p>no links</p>"), "https://a.example/list?page=4") == (
        "https://a.example/list?page=5", True)
    assert next_page_url(page("<p>no links</p>"), "https://a.example/list") == (None, False)


def test_declared_next_page_selector_css_and_xpath():
    body = '<div class="pager"><a class="nx" href="/news/page/3/">&gt;&gt;</a></div>'
    assert next_page_url(page(body), LIST_URL, "div.pager a.nx") == ("https://expo.example.cn/news/page/3/", False)
    assert next_page_url(page(body), LIST_URL, '//a[@class="nx"]/@href') == (
        "https://expo.example.cn/news/page/3/", False)
    assert next_page_url(page(body), LIST_URL, "a.missing") == (None, False)


def test_article_links_from_a_selector_or_every_link():
    body = ('<ul class="news"><li><a href="2024/1.html">one</a></li><li><a href="/n/2.html">two</a></li></ul>'
            '<a href="/about.html">about</a><a href="#top">top</a><a href="javascript:void(0)">js</a>')
    assert list_page_links(page(body), LIST_URL, "ul.news") == [
        "https://expo.example.cn/news/2024/1.html", "https://expo.example.cn/n/2.html"]
    assert list_page_links(page(body), LIST_URL, '//ul[@class="news"]//a/@href') == [
        "https://expo.example.cn/news/2024/1.html", "https://expo.example.cn/n/2.html"]
    assert list_page_links(page(body), LIST_URL, None) == [
        "https://expo.example.cn/news/2024/1.html", "https://expo.example.cn/n/2.html",
        "https://expo.example.cn/about.html"]


# -- retry arithmetic --------------------------------------------------------------------


def test_retry_after_seconds_and_dates():
    now = datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after(b"120") == 120.0
    assert parse_retry_after("Sat, 01 Jun 2024 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sat, 01 Jun 2024 11:00:00 GMT", now=now) == 0.0  # already past
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_doubles_up_to_the_cap():
    assert [backoff_delay(n, 0.5, 3.0) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
