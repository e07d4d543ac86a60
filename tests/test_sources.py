"""Source declarations: valid files load; every kind of mistake names file, source and key."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from parsel import Selector

from crawler.extract.encoding import decode_html
from crawler.extract.extraction import extract_article
from crawler.hints import hints_for
from crawler.replica import ReplicaWeb
from spiders.discovery import Listing, list_page_links, matching_articles, next_page_url, read_feed, read_sitemap

from spiders.sources import SourceError, builtin_sources, load_sources, load_sources_file, parse_sources
from test_discovery_sites import site, source_toml  # noqa: F401  (site: a scripted-server fixture)

REPO = Path(__file__).resolve().parent.parent

GOOD = """
[[source]]
name = "example-expo"
list_pages = ["https://example.org/news/"]
feeds = ["https://example.org/rss.xml"]
article_pattern = '/news/\\d+\\.html$'
language = "en"
timezone = "Asia/Shanghai"
schedule = "*/30 * * * *"
[source.selectors]
title = "h1.title"
drop_phrases = ["Collection Collection"]
"""


def test_good_file_loads(tmp_path):
    path = tmp_path / "sources.toml"
    path.write_text(GOOD)
    (source,) = load_sources_file(path)
    assert source.name == "example-expo"
    assert source.feeds == ("https://example.org/rss.xml",)
    assert source.article_regex.search("https://example.org/news/12.html")
    assert source.selectors.title == "h1.title"
    assert source.selectors.drop_phrases == ("Collection Collection",)
    merged = load_sources(path)
    assert "example-expo" in merged and set(s.name for s in builtin_sources()) <= set(merged)


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (('name = "example-expo"', 'name = "example-expo"\ncolour = "red"'), "colour", "unknown key"),
        (("'/news/\\d+\\.html$'", "'/news/(unclosed'"), "article_pattern", "bad regular expression"),
        (('"*/30 * * * *"', '"every tuesday"'), "schedule", "bad cron"),
        (('"Asia/Shanghai"', '"Asia/Atlantis"'), "timezone", "unknown time zone"),
        (('language = "en"', 'language = "klingon"'), "language", "must be one of"),
        (('feeds = ["https://example.org/rss.xml"]', 'feeds = ["example.org/rss.xml"]'), "feeds", "absolute"),
        (('[source.selectors]', '[source.selectors]\ncolour = "x"'), "selectors.colour", "unknown key"),
        (('title = "h1.title"', 'title = "h1[class"'), "selectors.title", "bad CSS selector"),
        (('language = "en"', 'language = "en"\narticle_links = "//ul[@class="'), "article_links", "bad XPath"),
        (('language = "en"', 'language = "en"\nnext_page = "a >> b"'), "next_page", "bad CSS selector"),
        (('language = "en"', 'language = "en"\nhomepage = "example.org"'), "homepage", "absolute"),
        (('language = "en"', 'language = "en"\nmax_pages = 0'), "max_pages", "at least 1"),
        (('language = "en"', 'language = "en"\nstop_after_known_pages = 0'), "stop_after_known_pages", "at least 1"),
        (('language = "en"', 'language = "en"\nenabled = "yes"'), "enabled", "must be bool"),
        (('language = "en"', 'language = "en"\nallow_private_addresses = 1'), "allow_private_addresses",
         "must be bool"),
    ],
)
def test_each_mistake_names_file_source_and_key(tmp_path, change, key, words):
    path = tmp_path / "sources.toml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(SourceError) as err:
        load_sources_file(path)
    message = str(err.value)
    assert str(path) in message and "example-expo" in message and f"'{key}'" in message and words in message


def test_duplicate_name_is_refused():
    with pytest.raises(SourceError, match="duplicate source name"):
        parse_sources(GOOD + GOOD, where="x.toml")


def test_broken_toml_names_the_file():
    with pytest.raises(SourceError, match=r"^x\.toml: not valid TOML"):
        parse_sources("[[source]\nname=", where="x.toml")


def test_list_pages_need_a_pattern():
    with pytest.raises(SourceError, match="article_pattern"):
        parse_sources('[[source]]\nname = "a"\nlist_pages = ["https://a.example/"]\n', where="x.toml")


def test_optional_keys_have_their_documented_defaults():
    (source,) = parse_sources('[[source]]\nname = "a"\nfeeds = ["https://a.example/rss"]\n', where="x.toml")
    assert (source.enabled, source.allow_private_addresses, source.obey_robots) == (True, False, True)
    assert (source.timezone, source.event, source.article_links, source.next_page) == ("UTC", None, None, None)
    assert (source.max_pages, source.max_depth, source.stop_after_known_pages) == (50, 3, 1)


def test_sources_file_comes_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "sources.toml"
    path.write_text(GOOD)
    monkeypatch.setenv("EXPOWATCH_SOURCES", str(path))
    assert "example-expo" in load_sources()


# -- the command line ---------------------------------------------------------------------

BAD_FILES = {
    "unknown key": ('name = "example-expo"', 'name = "example-expo"\ncolour = "red"'),
    "bad regular expression": ("'/news/\\d+\\.html$'", "'/news/(unclosed'"),
    "bad cron": ('"*/30 * * * *"', '"every tuesday"'),
    "unknown time zone": ('"Asia/Shanghai"', '"Mars/Olympus"'),
    "duplicate source name": None,
}


@pytest.mark.parametrize("words", sorted(BAD_FILES))
def test_every_file_error_exits_non_zero_and_crawls_nothing(tmp_path, run_cli, site, words):
    """The crawl refuses the file before any request: the server sees nothing, no store appears."""
    web = site({})
    text = GOOD.replace("https://example.org", web.base)
    text = text + text if BAD_FILES[words] is None else text.replace(*BAD_FILES[words])
    path = tmp_path / "sources.toml"
    path.write_text(text)
    db = tmp_path / "s.db"
    proc = run_cli("crawl", "--sources-file", str(path), "--db", str(db))
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("expowatch: error: ") and str(path) in line and "example-expo" in line and words in line
    assert web.hits == [] and not db.exists()


def test_sources_list_shows_file_sources(tmp_path, run_cli):
    path = tmp_path / "sources.toml"
    path.write_text(GOOD)
    listed = json.loads(run_cli("sources", "list", "--format", "json", "--sources-file", str(path), check=True).stdout)
    mine = next(s for s in listed if s["name"] == "example-expo")
    assert mine["feeds"] == ["https://example.org/rss.xml"] and mine["selectors"]["title"] == "h1.title"
    table = run_cli("sources", "list", env={"EXPOWATCH_SOURCES": str(path)}, check=True).stdout
    assert "example-expo" in table and "wicinternet" in table


def test_scrapy_list_includes_toml_sources(tmp_path, cli_env):
    path = tmp_path / "sources.toml"
    path.write_text(GOOD)
    proc = subprocess.run([sys.executable, "-m", "scrapy", "list"], capture_output=True, text=True, timeout=60,
                          cwd=REPO, env={**cli_env, "EXPOWATCH_SOURCES": str(path)})
    assert proc.returncode == 0, proc.stderr
    assert {"example-expo", "wicinternet"} <= set(proc.stdout.split())


def test_sources_check_prints_what_would_be_stored_and_writes_nothing(tmp_path, run_cli, cli_env):
    with ReplicaWeb() as web:
        path = web.write_sources_file(tmp_path / "sources.toml")
        proc = run_cli("sources", "check", "zh-organiser", "--sources-file", str(path), "--limit", "2",
                       "--format", "json")
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        counts = web.request_counts()
    assert counts[("zh-organiser", "article")] == 2
    expected = {e.url: e.expected for e in web.expected_articles() if e.site == "zh-organiser"}
    assert len(report["articles"]) == 2
    for article in report["articles"]:
        assert article["title"] == expected[article["url"]]["title"] and article["language"] == "zh"
    # no store anywhere: not the default location, not the working directory
    assert not Path(cli_env["XDG_DATA_HOME"]).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sources.toml"]


def test_sources_check_fails_clearly_when_nothing_is_found(tmp_path, run_cli, site):
    web = site({"/news/": (200, {}, b"<html><body><a href='/about'>About us</a></body></html>")})
    path = tmp_path / "sources.toml"
    path.write_text(source_toml("empty", list_pages=[web.url("/news/")], article_pattern=r"/news/\d+"))
    proc = run_cli("sources", "check", "empty", "--sources-file", str(path))
    assert proc.returncode == 1
    assert "no article URL was found" in proc.stderr and "article_pattern" in proc.stderr


# -- every built-in source reads its fixture -------------------------------------------------

FIXTURES = REPO / "tests" / "fixtures" / "sources"


def discovered(source, folder: Path) -> tuple[list[str], str | None]:
    """Canonical article URLs (and the next page) the source finds on its fixture discovery page."""
    if source.list_pages:
        url = source.list_pages[0]
        body = (folder / "list.html").read_bytes()
        page = Selector(text=decode_html(body).text, base_url=url)
        listings = [Listing(u) for u in list_page_links(page, url, source.article_links)]
        next_url = next_page_url(page, url, source.next_page)[0]
    elif source.feeds:
        listings, next_url = read_feed((folder / "feed.xml").read_bytes(), source.feeds[0]).entries, None
    else:
        listings, next_url = read_sitemap((folder / "sitemap.xml").read_bytes(), source.sitemaps[0]).entries, None
    return list(matching_articles(listings, source.article_regex)), next_url


@pytest.mark.parametrize("source", builtin_sources(), ids=lambda s: s.name)
def test_builtin_source_reads_its_fixture(source):
    """A built-in source cannot land without a fixture (docs/adding-a-source.md, section 3)."""
    folder = FIXTURES / source.name
    assert (folder / "expected.json").is_file(), f"built-in source {source.name!r} has no fixture in {folder}"
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    articles, next_url = discovered(source, folder)
    assert articles == expected["article_urls"]
    assert next_url == expected.get("next_page")
    doc = extract_article((folder / "article.html").read_bytes(), expected["article_url"], hints=hints_for(source))
    assert doc.skip_reason is None, doc.warnings
    assert doc.title == expected["title"]
    assert doc.published_at == datetime.fromisoformat(expected["published"])
    for snippet in expected["must_contain"]:
        assert snippet in doc.text
    for snippet in expected.get("must_not_contain", []):
        assert snippet not in doc.text
