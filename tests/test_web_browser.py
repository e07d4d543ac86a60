"""The web view in a real browser: Debian's chromium driven by selenium, against `expowatch serve`
on a store crawled from the replica web (plus a hostile site and a dead one).

Screenshots of every page visited are kept under test-artifacts/browser/ (or
$EXPOWATCH_TEST_ARTIFACTS), one PNG per step, for a person to look at after a run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin

import feedparser
import httpx
import pytest
from sqlalchemy import select

from hostile_server import HostileServer, article_html, crawl_env, feed, status, write_sources
from storage.engine import session_factory
from storage.models import Article, ArticleEvent
from storage.queries import SearchQuery, search
from web_server import ServeProcess

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("EXPOWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("EXPOWATCH_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,1600")
ARTIFACTS = Path(os.environ.get("EXPOWATCH_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts")) / "browser"
CRAWL_TIMEOUT_S = 300
PAGE_TIMEOUT_S = 30
# A hostile page: markup in its title and text, which must reach the viewer as text, never as code.
EVIL_TITLE = "&lt;script&gt;window.__pwned = 1&lt;/script&gt;&lt;img src=x onerror=&quot;window.__pwned = 2&quot;&gt; Robot kiosk"
EVIL_TEXT = ("<p>Visitors typed &lt;script&gt;alert(document.domain)&lt;/script&gt; into the kiosk and "
             "&lt;img src=x onerror=alert(2)&gt; into its guest book, the organisers of the kiosk said.</p>"
             "<script>window.__pwned = 3</script>")
EVIL_PLAIN_TITLE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> Robot kiosk'


def crawl(sources: Path, db: Path, env: dict, *names: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "crawler.cli", "crawl", "--quiet", "--sources-file", str(sources),
                           "--db", str(db), *names], capture_output=True, text=True, env=env, timeout=CRAWL_TIMEOUT_S)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Crawl the replica web, a hostile site and a dead source (twice: unhealthy), then serve the store."""
    from crawler.replica import ReplicaWeb

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail(f"browser tests need {CHROMIUM} and {CHROMEDRIVER}: apt-get install chromium chromium-driver "
                    f"(see README, 'Run the tests')")
    tmp = tmp_path_factory.mktemp("browser")
    env = crawl_env(tmp)
    db = tmp / "store.db"
    routes = {"/news/kiosk.html": lambda ex: ex.send(200, article_html(7, title=EVIL_TITLE, extra=EVIL_TEXT)),
              "/dead/feed.xml": status(404)}
    with ReplicaWeb() as web, HostileServer(routes) as hostile:
        hostile.routes["/feed.xml"] = feed([hostile.url("/news/kiosk.html")])
        extra = write_sources(tmp / "extra.toml", {
            "hostile": {"feeds": [hostile.url("/feed.xml")], "article_pattern": r"/news/\w+\.html$"},
            "dead": {"feeds": [hostile.url("/dead/feed.xml")], "article_pattern": r"/news/\w+\.html$"},
        })
        sources = tmp / "sources.toml"
        sources.write_text(web.sources_toml() + "\n" + extra.read_text(encoding="utf-8"), encoding="utf-8")
        first = crawl(sources, db, env)
        assert "hostile" in first.stderr or first.returncode in (0, 1), first.stderr
        again = crawl(sources, db, env, "dead")
        assert again.returncode == 1, again.stderr  # the dead source fails again: two in a row
        expected = web.expected_articles()
    with ServeProcess("--db", str(db), "--sources-file", str(sources), env=env) as server:
        yield {"url": server.url, "db": f"sqlite:///{db}", "expected": expected, "sources": sources, "env": env}


@pytest.fixture(scope="module")
def browser(served):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = Path(served["db"].removeprefix("sqlite:///")).parent / "chromium-profile"
    for flag in (*CHROME_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    yield driver
    driver.quit()


def shot(driver, name: str) -> None:
    """Keep a screenshot of the page as a test artefact."""
    assert driver.save_screenshot(str(ARTIFACTS / f"{name}.png")), name


def open_page(driver, served, path: str) -> None:
    driver.get(urljoin(served["url"], path))


def by_css(driver, css: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, css)


def submit_search(driver, text: str) -> None:
    box = by_css(driver, "#q")[0]
    box.clear()
    box.send_keys(text)
    by_css(driver, "#search-button")[0].click()


def result_titles(driver) -> list[str]:
    return [a.text for a in by_css(driver, "a.hit-title")]


def stored_search(served, query: SearchQuery) -> list[str]:
    with session_factory(served["db"], for_writing=False)() as session:
        return [h.title or h.url for h in search(session, query)]


def test_search_in_chinese_and_in_english(browser, served):
    chinese = next(e for e in served["expected"] if e.expected["language"] == "zh")
    word = re.search(r"[\u4e00-\u9fff]{2,4}", chinese.expected["title"]).group()
    open_page(browser, served, "/")
    shot(browser, "01-search-home")
    submit_search(browser, word)
    shot(browser, "02-search-chinese")
    assert chinese.expected["title"] in stored_search(served, SearchQuery(word, limit=None))
    assert result_titles(browser) == stored_search(served, SearchQuery(word))
    assert httpx.URL(browser.current_url).params["q"] == word
    submit_search(browser, '"World Intelligence" OR Wuzhen')
    shot(browser, "03-search-english")
    titles = result_titles(browser)
    assert titles and titles == stored_search(served, SearchQuery('"World Intelligence" OR Wuzhen'))


def test_filter_by_event_and_edition(browser, served):
    from selenium.webdriver.support.select import Select

    with session_factory(served["db"], for_writing=False)() as session:
        event, edition = session.execute(
            select(ArticleEvent.event, ArticleEvent.edition).where(ArticleEvent.edition.is_not(None))
            .group_by(ArticleEvent.event, ArticleEvent.edition)).first()
    open_page(browser, served, "/")
    Select(by_css(browser, "#event")[0]).select_by_value(event)
    by_css(browser, "#edition")[0].send_keys(str(edition))
    by_css(browser, "#search-button")[0].click()
    shot(browser, "04-filter-event-edition")
    titles = result_titles(browser)
    assert titles and titles == stored_search(served, SearchQuery(events=(event,), editions=(edition,)))
    assert all(event in m.text for m in by_css(browser, ".hit .meta"))
    facet = by_css(browser, "a.facet-event")  # the facet counts beside the filter
    assert event in [f.text for f in facet]


def test_open_an_article_and_follow_a_copy(browser, served):
    with session_factory(served["db"], for_writing=False)() as session:
        copy_id, original_id = session.execute(
            select(Article.id, Article.duplicate_of_id).where(Article.duplicate_of_id.is_not(None))).first()
        copy_title = session.get(Article, copy_id).title
        original_title = session.get(Article, original_id).title
    open_page(browser, served, "/")
    submit_search(browser, f'"{original_title}"')
    by_css(browser, "a.hit-title")[0].click()
    shot(browser, "05-article")
    assert by_css(browser, "#article-title")[0].text == original_title
    assert by_css(browser, "#published-utc")[0].text and by_css(browser, "#extractor-version")[0].text
    assert by_css(browser, "#events mark") or by_css(browser, "#text mark")  # evidence highlighted
    links = by_css(browser, "a.copy-link")
    assert links
    next(a for a in links if a.get_attribute("href").endswith(f"/articles/{copy_id}")).click()
    shot(browser, "06-copy")
    assert by_css(browser, "#article-title")[0].text == copy_title
    assert str(original_id) in by_css(browser, "#original")[0].text


def test_open_an_event_timeline(browser, served):
    open_page(browser, served, "/events")
    shot(browser, "07-events")
    marks = by_css(browser, "#event-smart-china-expo .timeline a")
    assert marks and all(re.match(r"\d{4}", m.text) for m in marks)
    by_css(browser, "#event-smart-china-expo h2 a")[0].click()
    shot(browser, "08-event")
    editions = by_css(browser, "section.edition")
    assert editions
    listed = [a.text for a in by_css(browser, "section.edition li a")]
    assert set(listed) <= set(stored_search(served, SearchQuery(events=("smart-china-expo",), limit=None)))
    assert listed


def test_a_failing_source_shows_on_the_sources_page(browser, served):
    open_page(browser, served, "/sources")
    shot(browser, "09-sources")
    dead = by_css(browser, "#source-dead")[0]
    assert dead.find_elements("css selector", ".health")[0].text == "unhealthy"
    assert "failed runs in a row" in dead.text
    failures = dead.find_elements("css selector", ".failures li")
    assert failures and "/dead/feed.xml" in failures[0].text
    assert by_css(browser, "#source-prwire svg.chart rect")  # new articles per run, drawn on the server
    # unhealthy sources are listed first
    assert by_css(browser, "section.source")[0].get_attribute("id") == "source-dead"


def test_subscribe_to_a_feed(browser, served):
    open_page(browser, served, "/?q=Expo")
    alternate = by_css(browser, "link[rel=alternate][type='application/atom+xml']")[0].get_attribute("href")
    visible = by_css(browser, "#feed-link")[0].get_attribute("href")
    assert alternate == visible
    feed_doc = feedparser.parse(httpx.get(visible).content)
    assert not feed_doc.bozo and feed_doc.version == "atom10"
    with session_factory(served["db"], for_writing=False)() as session:
        newest = [h.url for h in search(session, SearchQuery("Expo", limit=50))]
    assert [e.link for e in feed_doc.entries] == newest
    browser.get(visible)
    shot(browser, "10-feed")


def test_a_hostile_page_runs_no_script(browser, served):
    from selenium.common.exceptions import NoAlertPresentException

    open_page(browser, served, "/")
    submit_search(browser, "kiosk")
    shot(browser, "11-hostile-search")
    assert EVIL_PLAIN_TITLE in result_titles(browser)
    by_css(browser, "a.hit-title")[0].click()
    shot(browser, "12-hostile-article")
    assert by_css(browser, "#article-title")[0].text == EVIL_PLAIN_TITLE
    assert "<script>alert(document.domain)</script>" in by_css(browser, "#text")[0].text
    assert browser.execute_script("return document.querySelectorAll('script, img').length") == 0
    assert browser.execute_script("return window.__pwned === undefined")
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 (reading it is the check)


def test_the_sources_page_judges_health_as_expowatch_health_does(served):
    import json

    proc = subprocess.run([sys.executable, "-m", "crawler.cli", "health", "--format", "json", "--sources-file",
                           str(served["sources"]), "--db", served["db"]], capture_output=True, text=True,
                          env=served["env"], timeout=120)
    assert proc.returncode == 1, proc.stderr  # the dead source is unhealthy
    cli = {h["source"]: (h["status"], h["problems"]) for h in json.loads(proc.stdout)}
    web = {s["source"]: (s["health"]["status"], s["health"]["problems"])
           for s in httpx.get(urljoin(served["url"], "/api/sources"), timeout=30).json()}
    assert cli["dead"][0] == "unhealthy"
    assert {name: web[name] for name in cli} == cli
