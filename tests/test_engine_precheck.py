"""The engine's conditional-GET pre-check (crawler.engine.precheck), end to end: real engine
processes, small sites each on its own loopback address, a real store.

An unchanged source costs its conditional requests and no crawler; a changed one is crawled
with the pages its pre-check fetched (each fetched once); a pre-check is closed alone on a
timeout, drained on SIGTERM, and failed by the supervisor when its engine is killed.
"""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from crawler.engine.precheck import precheck_source
from crawler.settings import EXPOWATCH_PRECHECK
from crawler.spiderloader import spider_class_for
from crawler.replica.small_sites import SmallSites
from engine_spiders import BrokenSpider
from scrapy.settings import Settings
from spiders.generic import GenericSourceSpider
from spiders.sources import Source
from storage.engine import session_factory
from storage.httpcache import HttpCacheEntry
from storage.runs import get_run
from test_engine import WAIT, crawl_all, engine_runner, runs, store, stored_articles, wait_until, write_sources

__all__ = ["store"]  # the fixture, used by name below

PRECHECKED = "expowatch/precheck"


def checked_times(db_url: str) -> dict[str, object]:
    with session_factory(db_url)() as session:
        return dict(session.execute(select(HttpCacheEntry.url, HttpCacheEntry.checked_at)).all())


def stats(db_url: str, run) -> dict:
    """A run's stats (listings leave them out)."""
    with session_factory(db_url)() as session:
        return get_run(session, run.id).stats


def first_round(sites: SmallSites, tmp_path, store: str, **runner) -> list[str]:
    """Crawl every site once (stores validators and robots.txt); returns the source names."""
    names = [site.name for site in sites.sites]
    engine = engine_runner(store, write_sources(sites, tmp_path), **runner)
    assert {o.status for o in crawl_all(engine, names).values()} == {"ok"}
    engine.close()
    sites.reset_counts()
    return names


@pytest.mark.integration
def test_an_unchanged_source_is_recorded_from_its_precheck_with_one_request_and_no_crawler(tmp_path, store):
    with SmallSites(6, articles=2) as sites:
        names = first_round(sites, tmp_path, store)
        before = checked_times(store)

        runner = engine_runner(store, write_sources(sites, tmp_path))
        outcomes = crawl_all(runner, names)
        runner.close()
        assert {o.status for o in outcomes.values()} == {"ok"}
        assert sites.request_counts() == {(name, "feed_304"): 1 for name in names}  # no robots.txt, no article
        for name in names:
            first, second = runs(store)[name]
            assert second.status == "ok" and second.message is None
            assert second.pages_fetched == 1 and second.articles_new == 0 and second.errors == []
            assert stats(store, second)[PRECHECKED] == "unchanged"  # recorded by the pre-check: no crawler was built
            assert stats(store, second)["expowatch/discovery/not_modified"] == 1
            assert second.started_at >= first.finished_at and second.finished_at >= second.started_at
        after = checked_times(store)
        assert after.keys() == before.keys() and all(after[url] > before[url] for url in before)

        # The same round with the pre-check switched off: a crawler per source, the same requests.
        sites.reset_counts()
        runner = engine_runner(store, write_sources(sites, tmp_path), scrapy_settings={"EXPOWATCH_PRECHECK": False})
        assert {o.status for o in crawl_all(runner, names).values()} == {"ok"}
        runner.close()
        assert sites.request_counts() == {(name, "feed_304"): 1 for name in names}
        assert all(PRECHECKED not in stats(store, runs(store)[name][-1]) for name in names)
        assert all(stats(store, runs(store)[name][-1])["downloader/response_count"] == 1 for name in names)


@pytest.mark.integration
def test_a_changed_source_is_crawled_with_the_page_its_precheck_fetched_once(tmp_path, store):
    with SmallSites(5, articles=2) as sites:
        names = first_round(sites, tmp_path, store)
        sites.publish()  # one new article per site: every feed answers 200
        runner = engine_runner(store, write_sources(sites, tmp_path))
        outcomes = crawl_all(runner, names)
        runner.close()
        assert {o.status for o in outcomes.values()} == {"ok"}
        # the feed once (the pre-check's answer handed to the crawl), the new article once
        assert sites.request_counts() == {(name, kind): 1 for name in names for kind in ("feed", "article")}
        for name in names:
            run = runs(store)[name][-1]
            assert run.articles_new == 1 and stats(store, run)[f"{PRECHECKED}/handed_over"] == 1
        assert stored_articles(store) == (15, 15)

        # The crawl saved the feed's new validators: the next round is a pre-checked 304 again.
        sites.reset_counts()
        runner = engine_runner(store, write_sources(sites, tmp_path))
        crawl_all(runner, names)
        runner.close()
        assert sites.request_counts() == {(name, "feed_304"): 1 for name in names}


@pytest.mark.integration
def test_a_source_that_hangs_in_its_precheck_times_out_alone_and_the_engine_is_kept(tmp_path, store):
    with SmallSites(5, articles=1) as sites:
        names = first_round(sites, tmp_path, store)
        hang = names[0]
        sites.set_mode(hang, "hang")
        sites.publish()
        runner = engine_runner(store, write_sources(sites, tmp_path), timeout=25, kill_grace=20)
        outcomes = crawl_all(runner, names)
        runner.close()
        assert outcomes[hang].status == "timeout"
        [*_, run] = runs(store)[hang]
        assert run.status == "timeout" and run.message == (
            "timed out after 25 s: the scheduler ended the crawl (closed in the engine)")
        assert stats(store, run)[PRECHECKED] == "closed (timeout)" and run.articles_new == 0
        for name in names[1:]:
            assert outcomes[name].status == "ok" and runs(store)[name][-1].articles_new == 1
        assert runner.engines_started == 1  # closed in the engine, not by replacing it
        assert stored_articles(store) == (9, 9)

        sites.set_mode(hang, "ok")  # the next round takes what the timed-out one missed, once
        runner = engine_runner(store, write_sources(sites, tmp_path))
        assert runner.run(hang).status == "ok"
        runner.close()
        assert stored_articles(store) == (10, 10)


@pytest.mark.integration
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_an_engine_stopped_or_killed_during_prechecks_records_each_run_once(tmp_path, store, how):
    with SmallSites(4, articles=1) as sites:
        names = first_round(sites, tmp_path, store)
        for name in names:
            sites.set_mode(name, "hang")
        runner = engine_runner(store, write_sources(sites, tmp_path))
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            futures = [pool.submit(runner.run, name) for name in names]
            wait_until(lambda: sum(sites.request_counts().values()) == len(names), "each pre-check waits for its site")
            [pid] = runner.engine_pids()
            os.kill(pid, getattr(signal, how))
            outcomes = [future.result(timeout=WAIT) for future in futures]
        runner.close()
        for name in names:
            [_, run] = runs(store)[name]
            if how == "SIGTERM":  # drained: each pre-check recorded as a crawl closed at shutdown
                assert run.status == "partial" and run.message == "crawl stopped early (shutdown)"
                assert stats(store, run)[PRECHECKED] == "closed (shutdown)"
            else:  # the supervisor fails what the dead engine held
                assert run.status == "failed" and run.message.startswith(f"interrupted: the crawl engine (pid {pid})")
        assert [o.status for o in outcomes] == (["partial"] * 4 if how == "SIGTERM" else ["failed"] * 4)
        assert not runner.engine_pids()

        for name in names:
            sites.set_mode(name, "ok")
        sites.publish()
        runner = engine_runner(store, write_sources(sites, tmp_path))
        assert {o.status for o in crawl_all(runner, names).values()} == {"ok"}
        runner.close()
        assert stored_articles(store) == (8, 8)  # what was missing, once
        assert all(len(site_runs) == 3 for site_runs in runs(store).values())


SOURCE = Source(name="s", homepage="http://127.0.0.1/", feeds=("http://127.0.0.1/feed.xml",),
                article_pattern=r"/news/")


def test_which_crawls_are_prechecked():
    on = Settings({"EXPOWATCH_PRECHECK": True, "EXPOWATCH_CONDITIONAL_GET": True})
    generic = spider_class_for(SOURCE)
    assert EXPOWATCH_PRECHECK is True  # on by default
    assert precheck_source(generic, on, resume=False) is SOURCE
    assert precheck_source(generic, on, resume=True) is None  # a resumed crawl reads every page
    assert precheck_source(generic, on, resume=None) is None  # nobody read whether it resumes
    for name in ("EXPOWATCH_BACKFILL", "EXPOWATCH_DRY_RUN"):
        assert precheck_source(generic, Settings({**on.copy_to_dict(), name: True}), resume=False) is None
    for name in ("EXPOWATCH_PRECHECK", "EXPOWATCH_CONDITIONAL_GET"):
        assert precheck_source(generic, Settings({**on.copy_to_dict(), name: False}), resume=False) is None
    # robots.txt's Sitemap: lines are read unconditionally; a source without discovery pages sends nothing
    sitemaps = Source(name="s", homepage="http://127.0.0.1/", discover_sitemaps=True, article_pattern=r"/news/")
    assert precheck_source(spider_class_for(sitemaps), on, resume=False) is None
    # a Python spider of its own is crawled as written
    assert precheck_source(spider_class_for(SOURCE, BrokenSpider), on, resume=False) is None
    custom = type("Custom", (GenericSourceSpider,), {"name": "s", "source": SOURCE, "custom_settings": {"X": 1}})
    assert precheck_source(custom, on, resume=False) is None
