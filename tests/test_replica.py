"""The bundled replica web: every site, feed, sitemap, quirk and expectation behaves as declared.

The replica is the fixture web of the whole suite, so these tests check that its
pages really carry what their expectations promise.
"""

from __future__ import annotations

import http.client
import re
import subprocess
import sys
import tomllib
from collections import Counter
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import feedparser
import lxml.etree
import lxml.html
import pytest
from parsel import Selector

from crawler.replica import EVENT_SLUGS, REQUEST_KINDS, SITE_NAMES, ReplicaWeb
from crawler.replica.catalog import ARTICLE_EXPECTED_KEYS, iso_at_precision, load_catalog, shown_text

pytestmark = pytest.mark.integration

SPECS, ENTRIES = load_catalog()
ARTICLES = [e for e in ENTRIES if e.kind == "article"]
SITEMAP_NS = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9",
              "news": "http://www.google.com/schemas/sitemap-news/0.9"}  # fmt: skip


# ---- helpers -----------------------------------------------------------------
def fetch(url: str, headers: dict[str, str] | None = None, method: str = "GET"):
    """One real HTTP request, redirects not followed: (status, headers, body)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def visible_text(page: bytes, encoding: str) -> str:
    """What a reader sees: text of the page without scripts, whitespace collapsed."""
    root = lxml.html.document_fromstring(page.decode(encoding))
    for node in root.xpath("//script|//style"):
        node.drop_tree()
    return " ".join(root.text_content().split())


def squash(text: str) -> str:
    return " ".join(text.split())


def sources_by_name(web: ReplicaWeb) -> dict[str, dict]:
    return {s["name"]: s for s in tomllib.loads(web.sources_toml())["source"]}


def crawl_list_pages(web: ReplicaWeb, site: str) -> tuple[int, list[str]]:
    """Follow the declared next_page selector from the first list page: (pages, article links)."""
    source = sources_by_name(web)[site]
    pattern = re.compile(source["article_pattern"])
    url, pages, links = source["list_pages"][0], 0, []
    encoding = SPECS[site].encoding
    while url:
        status, _, body = fetch(url)
        assert status == 200, url
        pages += 1
        sel = Selector(text=body.decode(encoding))
        hrefs = [urljoin(url, h) for h in sel.css(f"{source['article_links']}::attr(href)").getall()]
        links += [h for h in hrefs if pattern.search(h)]
        nxt = sel.xpath(source["next_page"]) if source["next_page"].startswith("/") else sel.css(source["next_page"])
        href = nxt.attrib.get("href") if nxt else None
        url = urljoin(url, href) if href else None
        assert pages <= 100, f"{site}: pagination does not end"
    return pages, links


@pytest.fixture(scope="module")
def web():
    """One replica web for the read-only tests of this module."""
    with ReplicaWeb() as running:
        yield running


@pytest.fixture
def fresh_web():
    """A private replica web for tests that publish, switch modes or count requests."""
    with ReplicaWeb() as running:
        yield running


# ---- the data: enough articles, complete expectations -------------------------
def test_catalog_has_the_promised_size_and_spread():
    phase1 = [a for a in ARTICLES if a.phase == 1]
    phase2 = [a for a in ARTICLES if a.phase == 2]
    assert len(phase1) >= 40
    assert 4 <= len(phase2) <= 6
    assert {a.site for a in phase1} == set(SITE_NAMES)
    assert {e.kind for e in ENTRIES} == {"article", "js_shell", "missing"}
    assert {a.expected["language"] for a in ARTICLES} == {"en", "zh"}


@pytest.mark.parametrize("entry", ARTICLES, ids=lambda e: f"{e.site}/{e.slug}")
def test_article_expectation_is_complete_and_consistent(entry):
    spec = SPECS[entry.site]
    exp = entry.expected
    assert ARTICLE_EXPECTED_KEYS <= exp.keys()
    assert exp["url"] == entry.path
    assert exp["title"] == entry.title and exp["title"].strip() == exp["title"]
    assert exp["timezone"] == spec.timezone and exp["language"] == spec.language
    assert exp["phase"] in (1, 2)
    assert exp["primary_event"] is None or exp["primary_event"] in EVENT_SLUGS
    assert set(exp["mentioned_events"]) <= EVENT_SLUGS
    assert exp["primary_event"] not in exp["mentioned_events"]
    assert exp["edition"] is None or (isinstance(exp["edition"], int) and exp["edition"] >= 1)
    assert exp["year"] is None or 2014 <= exp["year"] <= 2025
    assert exp["duplicate_group"] is None or isinstance(exp["duplicate_group"], str)
    # published: the page's precision, the source's offset, the same instant as the content date
    shown = iso_at_precision(entry.published.astimezone(ZoneInfo(spec.timezone)), spec.config["published_precision"])
    assert exp["published"] == shown
    if spec.config["published_precision"] != "date":
        parsed = datetime.fromisoformat(exp["published"])
        assert parsed.utcoffset() == parsed.astimezone(ZoneInfo(spec.timezone)).utcoffset()
    body = shown_text(spec, entry)
    assert len(exp["must_contain"]) >= 3
    for snippet in exp["must_contain"]:
        assert snippet in body
    assert exp["must_not_contain"]
    for phrase in exp["must_not_contain"]:
        assert phrase not in body


def test_every_article_page_shows_its_title_date_body_and_boilerplate(web):
    for article in web.expected_articles():
        spec = SPECS[article.site]
        status, headers, raw = fetch(article.url)
        assert status == 200 and raw == article.render(), article.url
        text = visible_text(raw, spec.encoding)
        exp = article.expected
        assert exp["title"] in text
        for snippet in exp["must_contain"]:
            assert squash(snippet) in text, (article.url, snippet)
        for phrase in exp["must_not_contain"]:
            assert squash(phrase) in text, (article.url, phrase)
        html_title = re.search(r"<title>(.*?)</title>", raw.decode(spec.encoding)).group(1)
        assert html_title != exp["title"], "the <title> carries a site-name suffix"


def select(sel: Selector, query: str):
    return sel.xpath(query) if query.startswith(("/", "(")) else sel.css(query)


def test_declared_selectors_find_title_date_and_clean_body(web):
    sources = sources_by_name(web)
    for article in web.expected_articles():
        spec, selectors = SPECS[article.site], sources[article.site]["selectors"]
        root = lxml.html.document_fromstring(article.render().decode(spec.encoding))
        for query in selectors.get("drop_selectors", []):
            for node in root.xpath(query) if query.startswith("/") else root.cssselect(query):
                node.drop_tree()
        sel = Selector(root=root)
        assert squash(" ".join(select(sel, selectors["title"]).xpath(".//text()").getall())) == article.expected["title"]
        shown_date = squash(" ".join(select(sel, selectors["date"]).xpath(".//text()").getall()))
        assert shown_date and any(ch.isdigit() for ch in shown_date)
        body = squash(" ".join(select(sel, selectors["body"]).xpath(".//text()").getall()))
        for paragraph in shown_text(spec, article.entry).split("\n"):
            assert squash(paragraph) in body, (article.url, paragraph[:40])
        for phrase in article.expected["must_not_contain"]:
            assert squash(phrase) not in body, (article.url, phrase)


def test_expectations_reference_real_groups_and_translations():
    by_key = {f"{a.site}/{a.slug}": a for a in ARTICLES}
    groups: dict[str, list] = {}
    for a in ARTICLES:
        if a.expected["duplicate_group"]:
            groups.setdefault(a.expected["duplicate_group"], []).append(a)
        target = a.expected.get("translation_of")
        if target:
            assert by_key[target].expected["language"] != a.expected["language"]
            assert by_key[target].expected["duplicate_group"] != a.expected["duplicate_group"] or (
                a.expected["duplicate_group"] is None
            )
    assert all(len(members) >= 2 for members in groups.values()), groups
    sites_per_group = {g: {m.site for m in members} for g, members in groups.items()}
    assert {"wic-tianjin", "prwire"} in sites_per_group.values()
    assert {"wimc-nanjing", "prwire"} in sites_per_group.values()
    assert {"cq-daily", "prwire"} in sites_per_group.values()
    for members in groups.values():
        snippets = [set(m.expected["must_contain"]) for m in members]
        assert all(s == snippets[0] for s in snippets), "copies promise the same story text"
    assert any(a.content.get("lead") and a.site == "cq-daily" and a.expected["duplicate_group"] for a in ARTICLES)


def test_traps_share_wording_but_are_not_duplicates():
    def shared_paragraphs(a, b):
        return set(a.content["body"]) & set(b.content["body"])

    same_site = [(a, b) for a in ARTICLES for b in ARTICLES
                 if a.site == b.site and a.slug < b.slug and shared_paragraphs(a, b)]  # fmt: skip
    assert len(same_site) >= 2
    for a, b in same_site:
        assert a.expected["duplicate_group"] is None and b.expected["duplicate_group"] is None
    editions = {(a.expected["primary_event"], a.expected["year"]) for pair in same_site for a in pair}
    assert any(len({y for e, y in editions if e == event}) >= 2 for event, _ in editions)


def test_non_article_pages_carry_a_skip_reason_or_error(web):
    specials = web.expected_non_articles()
    assert {s.entry.kind for s in specials} == {"js_shell", "missing"}
    for special in specials:
        assert ("skip_reason" in special.expected) != ("error" in special.expected)


# ---- list pages and pagination --------------------------------------------------
@pytest.mark.parametrize("site", SITE_NAMES)
def test_list_pages_link_every_published_entry(web, site):
    pages, links = crawl_list_pages(web, site)
    published = [e for e in web._published(site)]
    assert pages == -(-len(published) // web.page_size)
    assert sorted(links) == sorted(web.sites[site].base_url + e.link_path for e in published)


def test_two_sites_paginate_over_three_pages(web):
    deep = [site for site in SITE_NAMES if crawl_list_pages(web, site)[0] >= 3]
    assert len(deep) >= 2, deep


def test_cq_daily_list_has_rel_next_links_and_next_text(web):
    status, _, body = fetch(web.sites["cq-daily"].base_url + "/sce/list.html")
    sel = Selector(text=body.decode())
    assert sel.css("link[rel=next]::attr(href)").get().endswith("/sce/list_2.html")
    assert sel.css("a[rel=next]::text").get() == "Next"


# ---- feeds, sitemaps, robots ------------------------------------------------------
def test_rss_feed_parses_and_lists_the_published_articles(web):
    base = web.sites["wic-tianjin"].base_url
    status, headers, body = fetch(base + "/rss.xml")
    assert status == 200 and "rss" in headers["content-type"]
    feed = feedparser.parse(body)
    assert not feed.bozo and feed.version == "rss20"
    expected = {a.url: a for a in web.expected_articles() if a.site == "wic-tianjin"}
    assert {e.link for e in feed.entries} == set(expected)
    for item in feed.entries:
        published = datetime.fromisoformat(expected[item.link].expected["published"])
        assert parsedate_to_datetime(item.published) == published


def test_sitemap_index_news_sitemap_and_robots_parse(web):
    base = web.sites["prwire"].base_url
    _, _, robots = fetch(base + "/robots.txt")
    index_url = re.search(r"^Sitemap: (\S+)$", robots.decode(), re.M).group(1)
    _, headers, index = fetch(index_url)
    assert "xml" in headers["content-type"]
    children = lxml.etree.fromstring(index).xpath("//sm:sitemap/sm:loc/text()", namespaces=SITEMAP_NS)
    assert len(children) == 2
    expected = {a.url: a for a in web.expected_articles() if a.site == "prwire"}
    news_dates = {}
    for child in children:
        tree = lxml.etree.fromstring(fetch(child)[2])
        locs = tree.xpath("//sm:url/sm:loc/text()", namespaces=SITEMAP_NS)
        assert set(locs) == set(expected)
        for url in tree.xpath("//sm:url[news:news]", namespaces=SITEMAP_NS):
            loc = url.xpath("sm:loc/text()", namespaces=SITEMAP_NS)[0]
            news_dates[loc] = url.xpath(".//news:publication_date/text()", namespaces=SITEMAP_NS)[0]
    assert set(news_dates) == set(expected)
    for url, when in news_dates.items():
        assert datetime.fromisoformat(when) == datetime.fromisoformat(expected[url].expected["published"])


def test_plain_sitemap_without_index(web):
    base = web.sites["wimc-nanjing"].base_url
    _, _, robots = fetch(base + "/robots.txt")
    assert f"Sitemap: {base}/sitemap.xml" in robots.decode()
    tree = lxml.etree.fromstring(fetch(base + "/sitemap.xml")[2])
    assert tree.tag == "{http://www.sitemaps.org/schemas/sitemap/0.9}urlset"
    assert len(tree) == len([e for e in web._published("wimc-nanjing")])


def test_one_site_has_neither_feed_nor_sitemap(web):
    sources = sources_by_name(web)
    assert sources["technews"]["feeds"] == [] and sources["technews"]["sitemaps"] == []
    _, _, robots = fetch(web.sites["technews"].base_url + "/robots.txt")
    assert "Sitemap" not in robots.decode()
    for path in ("/sitemap.xml", "/feed/", "/rss.xml"):
        assert fetch(web.sites["technews"].base_url + path)[0] == 404


# ---- broken web: encodings, redirect, dead link, JS shell ---------------------------
def test_zh_organiser_serves_gbk_bytes_with_wrong_or_missing_charset(web):
    seen = Counter()
    for article in [a for a in web.expected_articles() if a.site == "zh-organiser"]:
        _, headers, raw = fetch(article.url)
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        assert article.expected["title"] in raw.decode("gbk")
        header = re.search(r"charset=([\w-]+)", headers["content-type"])
        meta = re.search(rb'charset=([\w-]+)"', raw)
        assert header is None or header.group(1).lower() not in ("gbk", "gb2312", "gb18030")
        seen[(header.group(1) if header else None, meta.group(1).decode() if meta else None)] += 1
    assert ("utf-8", "gbk") in seen or ("utf-8", "gb2312") in seen
    assert any(h == "iso-8859-1" for h, _ in seen)
    assert (None, None) in seen
    _, headers, raw = fetch(web.sites["zh-organiser"].base_url + "/xwzx/index.shtml")
    assert headers["content-type"] == "text/html; charset=utf-8" and "下一页".encode("gbk") in raw


def test_old_article_url_redirects_permanently_to_the_new_one(web):
    moved = [a for a in web.expected_articles() if a.expected.get("redirected_from")]
    assert len(moved) == 1
    article = moved[0]
    status, headers, _ = fetch(web.sites[article.site].base_url + article.expected["redirected_from"])
    assert status == 301 and headers["location"] == article.url
    assert fetch(article.url)[0] == 200


def test_broken_link_on_a_list_page_answers_404(fresh_web):
    missing = [s for s in fresh_web.expected_non_articles() if s.entry.kind == "missing"]
    assert len(missing) == 1 and missing[0].expected["error"] == "http_404"
    _, links = crawl_list_pages(fresh_web, missing[0].site)
    assert missing[0].url in links
    fresh_web.reset_counts()
    assert fetch(missing[0].url)[0] == 404
    assert fresh_web.request_counts()[(missing[0].site, "not_found")] == 1


def test_js_shell_matches_the_article_pattern_but_has_no_text(web):
    shells = [s for s in web.expected_non_articles() if s.entry.kind == "js_shell"]
    assert len(shells) == 1 and shells[0].expected["skip_reason"] == "js_shell"
    shell = shells[0]
    assert re.search(sources_by_name(web)[shell.site]["article_pattern"], shell.url)
    status, _, body = fetch(shell.url)
    assert status == 200 and b"Please enable JavaScript" in body
    assert len(visible_text(body, "utf-8")) < 200


# ---- conditional GET, publishing, counting, modes ---------------------------------
def test_conditional_get_answers_304_until_a_round_is_published(fresh_web):
    base = fresh_web.sites
    urls = [base["wic-tianjin"].base_url + "/news/", base["wic-tianjin"].base_url + "/rss.xml",
            base["prwire"].base_url + "/sitemap-news.xml", base["zh-organiser"].base_url + "/xwzx/index.shtml"]  # fmt: skip
    validators = {}
    for url in urls:
        status, headers, _ = fetch(url)
        assert status == 200 and headers["etag"] and headers["last-modified"]
        validators[url] = headers
        status, _, body = fetch(url, {"If-None-Match": headers["etag"]})
        assert status == 304 and body == b""
        assert fetch(url, {"If-Modified-Since": headers["last-modified"]})[0] == 304
        assert fetch(url, {"If-None-Match": '"stale"'})[0] == 200
    fresh_web.publish_next_round()
    for url, old in validators.items():
        status, headers, _ = fetch(url, {"If-None-Match": old["etag"]})
        assert status == 200 and headers["etag"] != old["etag"]
        assert fetch(url, {"If-Modified-Since": old["last-modified"]})[0] == 200


def test_publish_next_round_adds_exactly_the_phase_two_articles(fresh_web):
    phase2 = {fresh_web.sites[a.site].base_url + a.path for a in ARTICLES if a.phase == 2}
    assert not any(a.url in phase2 for a in fresh_web.expected_articles())
    assert all(fetch(url)[0] == 404 for url in phase2)
    before = {site: set(crawl_list_pages(fresh_web, site)[1]) for site in SITE_NAMES}
    rss = fresh_web.sites["wic-tianjin"].base_url + "/rss.xml"
    feed_before = {e.link for e in feedparser.parse(fetch(rss)[2]).entries}

    assert set(fresh_web.publish_next_round()) == phase2
    after = {site: set(crawl_list_pages(fresh_web, site)[1]) for site in SITE_NAMES}
    assert set().union(*after.values()) - set().union(*before.values()) == phase2
    assert {e.link for e in feedparser.parse(fetch(rss)[2]).entries} - feed_before == {
        u for u in phase2 if u.startswith(fresh_web.sites["wic-tianjin"].base_url)
    }
    for path in ("/sitemap-releases.xml", "/sitemap-news.xml"):
        body = fetch(fresh_web.sites["prwire"].base_url + path)[2]
        locs = set(lxml.etree.fromstring(body).xpath("//sm:loc/text()", namespaces=SITEMAP_NS))
        assert {u for u in phase2 if "/news-releases/" in u} <= locs
    assert all(fetch(url)[0] == 200 for url in phase2)
    assert {a.url for a in fresh_web.expected_articles(phase=2)} == phase2
    assert fresh_web.publish_next_round() == []


def test_requests_are_counted_by_kind_and_logged_with_headers(fresh_web):
    wic = fresh_web.sites["wic-tianjin"].base_url
    prwire = fresh_web.sites["prwire"].base_url
    article = next(a for a in fresh_web.expected_articles() if a.site == "wic-tianjin")
    fresh_web.reset_counts()
    fetch(wic + "/news/", {"User-Agent": "expowatch-test/1"})
    fetch(wic + "/rss.xml", {"If-None-Match": '"x"'})
    fetch(article.url)
    fetch(prwire + "/sitemap_index.xml")
    fetch(prwire + "/robots.txt")
    fetch(prwire + "/")
    fetch(prwire + "/no/such/page")
    counts = fresh_web.request_counts()
    assert counts == Counter({("wic-tianjin", "list"): 1, ("wic-tianjin", "feed"): 1, ("wic-tianjin", "article"): 1,
                              ("prwire", "sitemap"): 1, ("prwire", "robots"): 1, ("prwire", "other"): 1,
                              ("prwire", "not_found"): 1})  # fmt: skip
    assert {kind for _, kind in counts} == set(REQUEST_KINDS)
    first = fresh_web.request_log[0]
    assert first[1:6] == ("wic-tianjin", "GET", "/news/", "list", 200)
    assert first[6] == {"User-Agent": "expowatch-test/1"}
    assert fresh_web.request_log[1][6]["If-None-Match"] == '"x"'
    fresh_web.reset_counts()
    assert fresh_web.request_counts() == Counter() and fresh_web.request_log == []


def test_site_modes_down_and_js_shell(fresh_web):
    article = next(a for a in fresh_web.expected_articles() if a.site == "cq-daily")
    list_url = fresh_web.sites["cq-daily"].base_url + "/sce/list.html"
    fresh_web.set_mode("cq-daily", "down")
    status, headers, _ = fetch(article.url)
    assert status == 503 and int(headers["retry-after"]) > 0
    assert fetch(list_url)[0] == 503
    fresh_web.set_mode("cq-daily", "js_shell")
    assert b"Please enable JavaScript" in fetch(article.url)[2]
    assert fetch(list_url)[0] == 200
    fresh_web.set_mode("cq-daily", "ok")
    assert fetch(article.url)[2] == article.render()
    with pytest.raises(ValueError):
        fresh_web.set_mode("cq-daily", "slow")
    with pytest.raises(KeyError):
        fresh_web.set_mode("no-such-site", "ok")


def test_robots_txt_default_and_override(fresh_web):
    base = fresh_web.sites["wic-tianjin"].base_url
    assert "Allow: /" in fetch(base + "/robots.txt")[2].decode()
    fresh_web.set_robots("wic-tianjin", "User-agent: *\nDisallow: /news/\n")
    assert fetch(base + "/robots.txt")[2] == b"User-agent: *\nDisallow: /news/\n"
    fresh_web.set_robots("wic-tianjin", None)
    assert "Allow: /" in fetch(base + "/robots.txt")[2].decode()


# ---- sources declaration ------------------------------------------------------------
def test_sources_toml_declares_all_six_sites(web, tmp_path):
    sources = sources_by_name(web)
    assert list(sources) == list(SITE_NAMES)
    for name, source in sources.items():
        assert source["allow_private_addresses"] is True and source["enabled"] is True
        assert source["homepage"] == web.sites[name].base_url + "/"
        assert source["feeds"] or source["sitemaps"] or source["list_pages"]
        ZoneInfo(source["timezone"])
        assert source["language"] in ("en", "zh")
        pattern = re.compile(source["article_pattern"])
        for article in web.expected_articles():
            assert bool(pattern.search(article.url)) == (article.site == name), (name, article.url)
        for url in source["list_pages"] + source["feeds"] + source["sitemaps"]:
            assert not pattern.search(url) and fetch(url)[0] == 200
    path = web.write_sources_file(tmp_path / "sources.toml")
    assert tomllib.loads(path.read_text(encoding="utf-8")) == tomllib.loads(web.sources_toml())


def test_sources_toml_is_accepted_by_the_source_loader(web):
    from spiders.sources import parse_sources

    assert [s.name for s in parse_sources(web.sources_toml(), where="replica")] == list(SITE_NAMES)


# ---- scale and determinism ------------------------------------------------------------
def test_scale_adds_deterministic_synthetic_articles_without_rendering_up_front():
    with ReplicaWeb(scale=2000, page_size=20) as big:
        articles = big.expected_articles()
        synthetic = [a for a in articles if a.expected.get("synthetic")]
        assert len(synthetic) == 2000
        assert Counter(a.site for a in synthetic) == Counter({s: 2000 // 6 + (i < 2000 % 6) for i, s in enumerate(SITE_NAMES)})
        assert not any(r._page for routes in big._routes.values() for r in routes.values())
        assert len({a.url for a in articles}) == len(articles)
        assert len({a.expected["title"] for a in synthetic}) > 1900
        sample = synthetic[::250]
        for article in sample:
            spec = SPECS[article.site]
            status, _, raw = fetch(article.url)
            assert status == 200
            text = visible_text(raw, spec.encoding)
            for snippet in article.expected["must_contain"]:
                assert snippet in text
            assert datetime.fromisoformat(article.expected["published"]) or date.fromisoformat(article.expected["published"])
        pages, links = crawl_list_pages(big, "technews")
        assert len(links) == len(big._published("technews")) and pages >= 17
    with ReplicaWeb(scale=30) as again, ReplicaWeb(scale=30) as twin:
        first = [(a.expected["url"], a.expected) for a in again.expected_articles()]
        second = [(a.expected["url"], a.expected) for a in twin.expected_articles()]
        assert first == second


def test_synthetic_dates_are_valid_and_never_before_the_event_existed():
    from crawler.replica.synthetic import EVENTS, generate_entries

    entries = generate_entries(SPECS, 5000)  # large enough to draw Feb 29 before a first edition
    for entry in entries:
        exp = entry.expected
        assert exp["year"] == entry.published.year >= EVENTS[exp["primary_event"]]["first"]
        assert exp["published"] == iso_at_precision(entry.published, SPECS[entry.site].config["published_precision"])


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        ReplicaWeb(page_size=0)
    with pytest.raises(ValueError):
        ReplicaWeb(scale=-1)
    with pytest.raises(RuntimeError):
        ReplicaWeb().sources_toml()


def test_python_m_crawler_replica_serves_and_prints_sources():
    proc = subprocess.Popen([sys.executable, "-m", "crawler.replica"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        bases = [proc.stderr.readline().split(": ", 1)[1].strip().rstrip("/") for _ in SITE_NAMES]
        assert fetch(bases[0] + "/robots.txt")[0] == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert [s["homepage"] for s in tomllib.loads(out)["source"]] == [b + "/" for b in bases]
