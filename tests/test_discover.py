"""`expowatch sources discover URL`: the proposal from a survey (plain data, fast), and the command
on the six replica sites and on homepages that offer nothing (end to end, on 127.0.0.1).
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from crawler.replica import ReplicaWeb
from crawler.urls import canonical_url
from spiders.discover import NothingFound, propose
from spiders.discovery import Listing
from spiders.proposal import language_of, name_for, offsets_in, propose_pattern, propose_timezone
from spiders.sources import load_sources_file
from spiders.survey import Survey
from test_discovery_sites import crawl_env, html, site  # noqa: F401  (the site fixture)

ORIGIN = "http://expo.example"


# -- the proposal (no network) -------------------------------------------------------------


@pytest.mark.parametrize(("paths", "expected"), [
    (["/news/2019/0829/311.html", "/news/2020/0101/4567.html", "/news/2021/1111/88.html"],
     r"/news/\d{4}/\d{4}/\d+\.html"),
    (["/2019/08/robots-at-the-expo/", "/2020/01/battery-swap/", "/2017/11/wuzhen-opens/"],
     r"/\d{4}/\d{2}/[a-z0-9-]+/"),
    (["/xwzx/201908/t20190801_2730.shtml", "/xwzx/202001/t20200102_31.shtml", "/xwzx/201811/t20181111_5.shtml"],
     r"/xwzx/\d{6}/t\d{8}_\d+\.shtml"),
    (["/releases/robot-roadshow-2019-301665210.html", "/releases/sodium-line-301000001.html",
      "/releases/expo-opens-300000017.html"], r"/releases/[a-z0-9-]+-\d+\.html"),
])
def test_the_pattern_is_the_common_shape_of_article_urls(paths, expected):
    noise = ["/about/", "/news/", "/category/events/", "/contact.html"]
    proposal = propose_pattern([ORIGIN + p for p in paths + noise], ORIGIN)
    assert proposal.pattern == "^" + ORIGIN.replace(".", r"\.") + expected + "$"
    assert proposal.matched == len(paths)


def test_too_few_article_urls_give_no_pattern():
    assert propose_pattern([ORIGIN + "/news/2019/0829/1.html", ORIGIN + "/about/"], ORIGIN) is None


def test_time_zone_hint_from_offsets_then_language():
    offsets = offsets_in("2024-06-01T10:00:00+08:00 Sat, 01 Jun 2024 10:00:00 +0800 2024-06-01T02:00:00Z")
    assert offsets == Counter({"+08:00": 2, "+00:00": 1})
    assert propose_timezone(offsets, "en")[0] == "Asia/Shanghai"
    assert propose_timezone(Counter(), "zh")[0] == "Asia/Shanghai"
    zone, reason = propose_timezone(Counter(), "en")
    assert zone == "UTC" and "no offset" in reason


def test_language_and_name():
    assert (language_of("zh-CN"), language_of("en-US"), language_of("fr"), language_of(None)) == ("zh", "en", None, None)
    assert name_for("https://www.expo-news.example.org/") == "expo-news-example-org"
    assert name_for("http://127.0.0.1:8080/") == "127-0-0-1-8080"


def survey_with(**found) -> Survey:
    survey = Survey(ORIGIN + "/", home_url=ORIGIN + "/", lang="en")
    for key, value in found.items():
        setattr(survey, key, value)
    return survey


def test_proposal_declares_what_was_found_and_parses_as_a_source():
    articles = [f"{ORIGIN}/news/2024/06{d:02d}/{100 + d}.html" for d in range(1, 9)]
    survey = survey_with(
        feeds={ORIGIN + "/rss.xml": [Listing(u) for u in articles[:4]],
               ORIGIN + "/feed/": [Listing(u) for u in articles[:4]]},  # the same feed twice: declared once
        linked_feeds=[ORIGIN + "/rss.xml"],
        sitemaps={ORIGIN + "/sitemap_index.xml": ("sitemapindex", [Listing(ORIGIN + "/s1.xml")]),
                  ORIGIN + "/s1.xml": ("urlset", [Listing(u) for u in articles])},
        robots_sitemaps=[ORIGIN + "/sitemap_index.xml"],
        list_pages={ORIGIN + "/news/": articles[2:] + [ORIGIN + "/about/"], ORIGIN + "/about/": [ORIGIN + "/"]},
        home_links=articles[:3] + [ORIGIN + "/news/", ORIGIN + "/about/"],
    )
    declaration, source = propose(survey, "expo")
    assert source.feeds == (ORIGIN + "/rss.xml",)
    assert source.discover_sitemaps and source.sitemaps == ()  # robots.txt lists the index
    assert source.list_pages == (ORIGIN + "/news/",)
    assert source.article_pattern == r"^http://expo\.example/news/\d{4}/\d{4}/\d+\.html$"
    assert source.language == "en"
    text = declaration.toml()
    assert text.startswith("[[source]]\nname = \"expo\"")
    assert all(" # " in line for line in text.splitlines() if line.startswith(("feeds", "article_pattern", "timezone")))


@pytest.mark.parametrize(("survey", "words"), [
    (survey_with(home_error="HTTP 500"), "cannot read the homepage: HTTP 500"),
    (survey_with(home_links=[ORIGIN + "/about/", ORIGIN + "/contact/"]), "no feed, sitemap or list page"),
])
def test_nothing_to_propose_says_why(survey, words):
    with pytest.raises(NothingFound, match=words):
        propose(survey)


# -- end to end --------------------------------------------------------------------------


def expowatch(tmp: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "crawler.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=crawl_env(tmp))


def stored_by_site(db: Path, bases: dict[str, str]) -> dict[str, set[str]]:
    with sqlite3.connect(db) as conn:
        urls = {row[0] for row in conn.execute("SELECT canonical_url FROM articles")}
    return {name: {u for u in urls if u.startswith(base + "/")} for name, base in bases.items()}


@pytest.fixture(scope="module")
def replica_discovered(tmp_path_factory):
    """The hand-written declarations crawled, and the discovered ones crawled, into two stores.

    Synthetic articles (ids of another width than the hand-written ones) and a second
    publishing round, crawled by both, check that the pattern generalises beyond the sample.
    """
    tmp = tmp_path_factory.mktemp("discover")
    with ReplicaWeb(scale=SYNTHETIC) as web:
        bases = {name: site.base_url for name, site in web.sites.items()}
        hand = web.write_sources_file(tmp / "hand.toml")
        found = tmp / "found.toml"

        def discover(name: str) -> subprocess.CompletedProcess:
            out = tmp / f"{name}.toml"
            return expowatch(tmp, "sources", "discover", bases[name] + "/", "--name", name, "-o", str(out),
                             "--allow-private-addresses", "--download-delay", "0", "--limit", "1")

        with ThreadPoolExecutor(3) as pool:
            runs = dict(zip(bases, pool.map(discover, bases)))
        found.write_text("\n".join((tmp / f"{n}.toml").read_text(encoding="utf-8")
                                   for n in bases if (tmp / f"{n}.toml").exists()), encoding="utf-8")
        declared = (("hand", hand), ("found", found))
        crawls = {label: expowatch(tmp, "crawl", "--sources-file", str(path), "--db", str(tmp / f"{label}.db"))
                  for label, path in declared}
        assert web.publish_next_round()
        for label, path in declared:
            again = expowatch(tmp, "crawl", "--sources-file", str(path), "--db", str(tmp / f"{label}.db"))
            crawls[label] = crawls[label] if crawls[label].returncode else again
        yield {
            "runs": runs, "crawls": crawls, "found": found,
            "hand": stored_by_site(tmp / "hand.db", bases), "discovered": stored_by_site(tmp / "found.db", bases),
            "articles": {canonical_url(a.url) for a in web.expected_articles()},
        }


SYNTHETIC = 60  # ten more articles per site, beyond the hand-written ones
SITES = ("wic-tianjin", "prwire", "wimc-nanjing", "technews", "cq-daily", "zh-organiser")


@pytest.mark.integration
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("site", SITES)
def test_discovered_declaration_stores_what_the_hand_written_one_stores(replica_discovered, site):
    run = replica_discovered["runs"][site]
    assert run.returncode == 0, run.stderr
    assert "[[source]]" in run.stdout and "articles fetched (nothing stored)" in run.stdout
    for label in ("hand", "found"):
        assert replica_discovered["crawls"][label].returncode == 0, replica_discovered["crawls"][label].stderr
    hand, discovered = replica_discovered["hand"][site], replica_discovered["discovered"][site]
    share = len(discovered & hand) / len(hand)
    print(f"{site}: discovered declaration stores {len(discovered & hand)} of {len(hand)} ({share:.0%})")
    assert share >= 0.95
    assert discovered <= replica_discovered["articles"]  # no tag, list, about or home page stored


@pytest.mark.integration
@pytest.mark.timeout(1800)
def test_discovered_declarations_form_a_valid_sources_file(replica_discovered):
    sources = load_sources_file(replica_discovered["found"])
    assert sorted(s.name for s in sources) == sorted(SITES)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.integration
@pytest.mark.parametrize(("routes", "words"), [
    (None, "cannot read the homepage"),
    ({"/": (200, {"Content-Type": "application/json"}, b'{"not": "html"}')}, "not an HTML page"),
    ({"/": (200, {}, html("<p>Welcome. <a href='/about/'>About us</a> <a href='/contact/'>Contact</a></p>"))},
     "no feed, sitemap or list page"),
])
def test_a_homepage_with_nothing_to_crawl_gets_one_clear_line(tmp_path, site, routes, words):
    url = f"http://127.0.0.1:{free_port()}/" if routes is None else site(routes).url("/")
    out = tmp_path / "new.toml"
    proc = expowatch(tmp_path, "sources", "discover", url, "--allow-private-addresses", "--download-delay", "0",
                     "-o", str(out), timeout=180)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("expowatch: error: ") and words in lines[0], proc.stderr
    assert url in lines[0]
    assert not out.exists()


@pytest.mark.integration
def test_a_private_address_is_refused_without_the_flag(tmp_path, site):
    server = site({"/": (200, {}, html("<p>hi</p>"))})
    proc = expowatch(tmp_path, "sources", "discover", server.url("/"), timeout=180)
    assert proc.returncode == 1 and "refused" in proc.stderr and "Traceback" not in proc.stderr
    assert server.paths() == []


@pytest.mark.integration  # runs the command line as processes
def test_bad_command_lines_exit_2(tmp_path):
    assert expowatch(tmp_path, "sources", "discover", "ftp://x.example/").returncode == 2
    assert expowatch(tmp_path, "sources", "discover", "http://x.example/", "--name", "Bad Name").returncode == 2


def test_adding_a_source_starts_with_sources_discover():
    from conftest import REPO

    text = (REPO / "docs" / "adding-a-source.md").read_text(encoding="utf-8")
    first_command = text.split("```sh\n", 1)[1].splitlines()[0]
    assert first_command.startswith("expowatch sources discover ")
    assert text.index("sources discover") < text.index("## 1.")
