"""What real sites publish beyond RSS and sitemaps: JSON Feed, feeds given as sitemaps, robots.txt
Sitemap: lines, xml:base; and the caps that keep a crawl's memory bounded on huge files.

The readers are tested as plain functions; the crawls (marked integration) run `expowatch crawl`
in a subprocess against scripted sites on 127.0.0.1.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from spiders.discovery import DiscoveryError, read_feed, read_sitemap, robots_sitemaps
from spiders.sources import SourceError, parse_sources
from spiders.xmlstream import take_entries
from test_discovery_sites import article_page, expowatch, site, source_toml, stored_urls  # noqa: F401  (site: fixture)

BASE = "http://news.example"
T0 = datetime(2024, 6, 1, 8, 0, tzinfo=timezone.utc)


def json_feed(links: list[str], version: str = "https://jsonfeed.org/version/1.1") -> bytes:
    items = [{"id": str(i), "url": link, "title": f"Item {i}", "content_text": "x",
              "date_published": (T0 + timedelta(hours=i)).isoformat()} for i, link in enumerate(links)]
    return json.dumps({"version": version, "title": "News", "items": items}).encode()


def rss_feed(links: list[str], base: str | None = None) -> bytes:
    items = "".join(f"<item><title>{i}</title><link>{link}</link>"
                    f"<pubDate>Sat, 0{1 + i % 9} Jun 2024 10:00:00 +0800</pubDate></item>" for i, link in enumerate(links))
    xml_base = f' xml:base="{base}"' if base else ""
    return (f'<?xml version="1.0"?><rss version="2.0"{xml_base}><channel><title>t</title><link>/</link>{items}'
            "</channel></rss>").encode()


def atom_feed(hrefs: list[str], base: str) -> bytes:
    entries = "".join(f'<entry><title>{i}</title><id>urn:{i}</id><link rel="alternate" href="{h}"/>'
                      f"<updated>2024-06-0{1 + i}T10:00:00+08:00</updated></entry>" for i, h in enumerate(hrefs))
    return (f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:base="{base}">'
            f"<title>t</title><id>urn:f</id><updated>2024-06-01T00:00:00Z</updated>{entries}</feed>").encode()


def urlset(locs: list[str], lastmods: list[str] | None = None) -> bytes:
    rows = "".join(f"<url><loc>{loc}</loc>{f'<lastmod>{lastmods[i]}</lastmod>' if lastmods else ''}</url>"
                   for i, loc in enumerate(locs))
    return (f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{rows}</urlset>'
            ).encode()


# -- readers ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["https://jsonfeed.org/version/1", "https://jsonfeed.org/version/1.1"])
def test_json_feed_gives_its_items_with_dates(version):
    doc = read_feed(json_feed([f"{BASE}/a/1.html", "/a/2.html"], version), f"{BASE}/feed.json",
                    "application/feed+json")
    assert [e.url for e in doc.entries] == [f"{BASE}/a/1.html", f"{BASE}/a/2.html"]
    assert doc.entries[0].published == T0


def test_json_feed_external_url_is_used_when_there_is_no_url():
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": [
        {"id": "1", "external_url": f"{BASE}/elsewhere.html"}]}).encode()
    assert [e.url for e in read_feed(body, f"{BASE}/feed.json").entries] == [f"{BASE}/elsewhere.html"]


@pytest.mark.parametrize(("body", "words"), [
    (b'{"title": "no version"}', "not a JSON Feed"),
    (b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1"}]}', "has a url"),
    (b"{not json", "not JSON"),
])
def test_bad_json_feeds_say_why(body, words):
    with pytest.raises(DiscoveryError, match=words):
        read_feed(body, f"{BASE}/feed.json", "application/feed+json")


@pytest.mark.parametrize("make", [
    lambda links: rss_feed(links),
    lambda links: atom_feed(links, BASE + "/"),
    lambda links: json_feed(links),
])
def test_a_feed_given_as_a_sitemap_is_read_as_pages(make):
    links = [f"{BASE}/a/{i}.html" for i in range(3)]
    doc = read_sitemap(make(links), f"{BASE}/sitemap.xml")
    assert doc.kind == "feed"
    assert sorted(e.url for e in doc.entries) == links


def test_feed_links_resolve_against_xml_base_and_the_response_url():
    atom = atom_feed(["1.html", "/top.html"], "http://cdn.example/news/")
    assert sorted(e.url for e in read_feed(atom, f"{BASE}/atom.xml").entries) == [
        "http://cdn.example/news/1.html", "http://cdn.example/top.html"]
    relative = rss_feed(["a/1.html"])
    assert [e.url for e in read_feed(relative, f"{BASE}/news/rss.xml").entries] == [f"{BASE}/news/a/1.html"]
    # the streaming reader (big feeds, feeds in sitemap slots) resolves the same way
    taken = take_entries(atom, f"{BASE}/atom.xml", 10)
    assert sorted(e.url for e in taken.entries) == ["http://cdn.example/news/1.html", "http://cdn.example/top.html"]


def test_a_big_feed_is_streamed_and_capped_with_the_newest_kept():
    links = [f"{BASE}/a/{i}.html" for i in range(40_000)]  # ~3 MB: past feedparser's share
    doc = read_feed(rss_feed(links), f"{BASE}/rss.xml", limit=100)
    assert doc.total == 40_000 and len(doc.entries) == 100 and doc.left_out == 39_900


def test_sitemap_cap_keeps_the_newest_entries_and_counts_the_rest():
    locs = [f"{BASE}/a/{i}.html" for i in range(1000)]
    lastmods = [(T0 + timedelta(minutes=(i * 7919) % 1000)).isoformat() for i in range(1000)]
    doc = read_sitemap(gzip.compress(urlset(locs, lastmods)), f"{BASE}/sitemap.xml.gz", limit=10)
    assert doc.total == 1000 and doc.left_out == 990
    newest = sorted(zip(lastmods, locs), reverse=True)[:10]
    assert [e.url for e in doc.entries] == [loc for _, loc in newest]


def test_text_sitemap_is_capped_too():
    body = "\n".join(f"{BASE}/a/{i}.html" for i in range(50)).encode()
    doc = read_sitemap(body, f"{BASE}/sitemap.txt", limit=5)
    assert len(doc.entries) == 5 and doc.total == 50


def test_an_inflated_sitemap_past_50_mb_is_refused_while_streaming():
    body = gzip.compress(b'<?xml version="1.0"?><urlset><url><loc>/a</loc></url>' + b" " * 55_000_000 + b"</urlset>")
    with pytest.raises(DiscoveryError, match="larger than 50 MB"):
        read_sitemap(body, f"{BASE}/sitemap.xml.gz")


def test_robots_sitemap_lines_are_read_in_order_and_resolved():
    text = "User-agent: *\nDisallow: /private/\nSitemap: https://news.example/a.xml\nsitemap: /b.xml.gz\n"
    assert robots_sitemaps(text, f"{BASE}/robots.txt") == ["https://news.example/a.xml", f"{BASE}/b.xml.gz"]
    assert robots_sitemaps("User-agent: *\nDisallow:\n", f"{BASE}/robots.txt") == []


def test_discover_sitemaps_is_a_validated_source_key():
    (source,) = parse_sources(source_toml("r", homepage=f"{BASE}/", discover_sitemaps=True), where="t")
    assert source.discover_sitemaps and not source.discovery_urls
    with pytest.raises(SourceError, match="key 'discover_sitemaps': must be bool"):
        parse_sources(source_toml("r", homepage=f"{BASE}/", discover_sitemaps="yes", feeds=[f"{BASE}/f"]), where="t")
    with pytest.raises(SourceError, match="discover_sitemaps.*needs a homepage"):
        parse_sources(source_toml("r", discover_sitemaps=True), where="t")


# -- crawls -----------------------------------------------------------------------------

ARTICLES = 12


def articles_routes(prefix: str = "/story/") -> dict:
    return {rf"{prefix}(\d+)\.html": lambda path, nth: article_page(int(path.rsplit("/", 1)[1].split(".")[0]))}


def crawl_site(tmp_path, site, **keys):
    sources = tmp_path / "sources.toml"
    sources.write_text(source_toml("formats", article_pattern=r"/story/\d+\.html$", **keys), encoding="utf-8")
    db = tmp_path / "store.db"
    proc = expowatch(tmp_path, "crawl", "formats", "--sources-file", str(sources), "--db", str(db))
    return proc, stored_urls(db), db


@pytest.mark.integration
def test_a_site_with_only_a_json_feed_is_crawled_completely(tmp_path, site):
    links = [f"/story/{i}.html" for i in range(ARTICLES)]
    server = site({"/feed.json": (200, {"Content-Type": "application/feed+json"}, json_feed(links)),
                   **articles_routes()})
    proc, stored, _ = crawl_site(tmp_path, server, feeds=[server.url("/feed.json")])
    assert proc.returncode == 0, proc.stderr
    assert stored == {server.url(link) for link in links}


@pytest.mark.integration
def test_a_sitemap_index_listing_an_rss_file_is_crawled_completely(tmp_path, site):
    links = [f"/story/{i}.html" for i in range(ARTICLES)]
    index = (b'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
             b"<sitemap><loc>/news.rss</loc></sitemap></sitemapindex>")
    server = site({"/sitemap_index.xml": (200, {"Content-Type": "application/xml"}, index),
                   "/news.rss": (200, {"Content-Type": "application/rss+xml"}, rss_feed(links[:6])),
                   **articles_routes()})
    # the second half of the site is an RSS file declared directly as a sitemap
    server.routes["/more.xml"] = (200, {"Content-Type": "application/rss+xml"}, rss_feed(links[6:]))
    proc, stored, _ = crawl_site(tmp_path, server, sitemaps=[server.url("/sitemap_index.xml"), server.url("/more.xml")])
    assert proc.returncode == 0, proc.stderr
    assert stored == {server.url(link) for link in links}


@pytest.mark.integration
def test_a_site_whose_sitemaps_are_only_in_robots_txt_is_crawled_completely(tmp_path, site):
    links = [f"/story/{i}.html" for i in range(ARTICLES)]
    robots = "User-agent: *\nAllow: /\nSitemap: /hidden/one.xml\nSitemap: /hidden/two.xml.gz\n"
    server = site({"/robots.txt": (200, {"Content-Type": "text/plain"}, robots.encode()),
                   "/hidden/one.xml": (200, {"Content-Type": "application/xml"}, urlset(links[:5])),
                   "/hidden/two.xml.gz": (200, {"Content-Type": "application/x-gzip"}, gzip.compress(urlset(links[5:]))),
                   **articles_routes()})
    proc, stored, _ = crawl_site(tmp_path, server, homepage=server.url("/"), discover_sitemaps=True)
    assert proc.returncode == 0, proc.stderr
    assert stored == {server.url(link) for link in links}


@pytest.mark.integration
def test_without_discover_sitemaps_robots_sitemaps_are_not_read(tmp_path, site):
    robots = "User-agent: *\nAllow: /\nSitemap: /hidden/one.xml\n"
    server = site({"/robots.txt": (200, {"Content-Type": "text/plain"}, robots.encode()),
                   "/hidden/one.xml": (200, {}, urlset(["/story/1.html"])),
                   "/feed.json": (200, {}, json_feed(["/story/2.html"])), **articles_routes()})
    proc, stored, _ = crawl_site(tmp_path, server, homepage=server.url("/"), feeds=[server.url("/feed.json")])
    assert proc.returncode == 0, proc.stderr
    assert stored == {server.url("/story/2.html")}
    assert "/hidden/one.xml" not in server.paths()


@pytest.mark.integration
def test_per_file_and_per_round_caps_are_recorded_and_the_rest_comes_next_round(tmp_path, site):
    links = [f"/story/{i}.html" for i in range(ARTICLES)]
    body = urlset(links)
    holder: dict = {}

    def sitemap(path: str, nth: int):
        """Answers 304 to a request carrying its ETag, as real servers do: a capped read must not send it."""
        if holder["server"].hits[-1].headers.get("If-None-Match") == '"v1"':
            return 304, {"ETag": '"v1"'}, b""
        return 200, {"Content-Type": "application/xml", "ETag": '"v1"'}, body

    server = holder["server"] = site({"/sitemap.xml": sitemap, **articles_routes()})
    sources = tmp_path / "sources.toml"
    sources.write_text(source_toml("formats", article_pattern=r"/story/\d+\.html$",
                                   sitemaps=[server.url("/sitemap.xml")]), encoding="utf-8")
    db = tmp_path / "store.db"
    caps = ("--set", "EXPOWATCH_MAX_ENTRIES_PER_FILE=10", "--set", "EXPOWATCH_MAX_REQUESTS_PER_ROUND=4")
    first = expowatch(tmp_path, "crawl", "formats", "--sources-file", str(sources), "--db", str(db), *caps)
    assert first.returncode == 0, first.stderr
    assert len(stored_urls(db)) == 4
    with sqlite3.connect(db) as conn:
        stats = json.loads(conn.execute("SELECT stats FROM crawl_runs ORDER BY id DESC LIMIT 1").fetchone()[0])
    assert stats["expowatch/discovery/entries_left_out"] == 2
    assert "EXPOWATCH_MAX_REQUESTS_PER_ROUND" in stats["expowatch/discovery/cap_reason"]
    for _ in range(2):
        expowatch(tmp_path, "crawl", "formats", "--sources-file", str(sources), "--db", str(db), *caps)
    assert len(stored_urls(db)) == 10  # the newest 10 of the file, four a round
    expowatch(tmp_path, "crawl", "formats", "--sources-file", str(sources), "--db", str(db), *caps)
    last = [h for h in server.hits if h.path == "/sitemap.xml"][-1]
    assert last.headers.get("If-None-Match") == '"v1"'  # read to its cap: now settled, a 304 costs nothing


@pytest.mark.parametrize("size", [10, 30_000])  # feedparser's share, and a feed big enough to be streamed
def test_external_entities_are_not_read_by_either_feed_reader(tmp_path, size):
    secret = tmp_path / "secret.txt"
    secret.write_text("leak-9d2")
    doctype = f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY s SYSTEM "{secret.as_uri()}">]>'.encode()
    body = doctype + rss_feed([f"{BASE}/a/{i}.html" for i in range(size)] + [f"{BASE}/a/&s;.html"]).split(b"?>", 1)[1]
    for doc in (read_feed(body, f"{BASE}/rss.xml"), read_sitemap(body, f"{BASE}/sitemap.xml")):
        urls = [e.url for e in doc.entries]
        assert f"{BASE}/a/1.html" in urls
        assert not any("leak" in url for url in urls)


def homepage(extra_head: str = "") -> tuple[int, dict, bytes]:
    body = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Expo news</title>"
            f"{extra_head}</head><body><h1>Expo news</h1><p>Welcome.</p><a href='/about/'>About</a></body></html>")
    return 200, {"Content-Type": "text/html; charset=utf-8"}, body.encode()


DISCOVER_CASES = {
    "json-feed-only": lambda links: {
        "/": homepage('<link rel="alternate" type="application/feed+json" href="/news/feed.json">'),
        "/news/feed.json": (200, {"Content-Type": "application/feed+json"}, json_feed(links))},
    "index-lists-rss": lambda links: {
        "/": homepage(),
        "/sitemap_index.xml": (200, {"Content-Type": "application/xml"},
                               b'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                               b"<sitemap><loc>/news.rss</loc></sitemap></sitemapindex>"),
        "/news.rss": (200, {"Content-Type": "application/rss+xml"}, rss_feed(links))},
    "robots-only": lambda links: {
        "/": homepage(),
        "/robots.txt": (200, {"Content-Type": "text/plain"}, b"User-agent: *\nAllow: /\nSitemap: /hidden/all.xml.gz\n"),
        "/hidden/all.xml.gz": (200, {"Content-Type": "application/x-gzip"}, gzip.compress(urlset(links)))},
}


@pytest.mark.integration
@pytest.mark.parametrize("case", sorted(DISCOVER_CASES))
def test_sources_discover_finds_what_each_format_site_offers_and_its_crawl_is_complete(tmp_path, site, case):
    links = [f"/story/{1000 + i}.html" for i in range(ARTICLES)]
    server = site({**DISCOVER_CASES[case](links), **articles_routes()})
    declared = tmp_path / "found.toml"
    found = expowatch(tmp_path, "sources", "discover", server.url("/"), "--name", "formats", "-o", str(declared),
                      "--allow-private-addresses", "--download-delay", "0", "--limit", "1")
    assert found.returncode == 0, found.stdout + found.stderr
    if case == "robots-only":
        assert "discover_sitemaps = true" in found.stdout
    db = tmp_path / "store.db"
    crawled = expowatch(tmp_path, "crawl", "formats", "--sources-file", str(declared), "--db", str(db))
    assert crawled.returncode == 0, crawled.stderr
    assert stored_urls(db) == {server.url(link) for link in links}
