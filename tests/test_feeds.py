"""Atom feeds (`expowatch feed`): valid Atom that feedparser reads back, ids stable across runs."""

from __future__ import annotations

import feedparser
import pytest

from crawler.feeds import FeedRequest, entry_id, render_feed
from storage.engine import session_factory
from test_search import CORPUS, build_store, url_of

WIE = "world-intelligence-expo"


@pytest.fixture
def store(sqlite_url):
    return sqlite_url, build_store(sqlite_url)


def parsed(document: bytes | str):
    feed = feedparser.parse(document)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


@pytest.mark.integration
def test_an_event_feed_lists_its_stories_newest_first_with_stable_ids(store, run_cli, tmp_path):
    db_url, _ = store
    out = tmp_path / "wie.xml"
    run_cli("feed", "--event", WIE, "--db", db_url, "-o", str(out), check=True)
    feed = parsed(out.read_bytes())
    expected = [d for d in CORPUS if any(t[0] == WIE for t in d.tags) and d.copy_of is None]
    expected.sort(key=lambda d: d.published, reverse=True)
    assert [e.link for e in feed.entries] == [url_of(d) for d in expected]
    assert [e.id for e in feed.entries] == [entry_id(url_of(d)) for d in expected]
    assert all(e.title and e.summary and e.published_parsed for e in feed.entries)
    assert {t.term for e in feed.entries for t in e.tags} >= {WIE}
    again = tmp_path / "again.xml"
    run_cli("feed", "--event", WIE, "--db", db_url, "-o", str(again), check=True)
    assert again.read_bytes() == out.read_bytes()  # nothing new: the same document, the same ids


@pytest.mark.integration
def test_a_query_feed_on_stdout_matches_chinese_and_english_and_filters_by_source(store, run_cli):
    db_url, _ = store
    proc = run_cli("feed", "--query", "智博会 OR Nanjing", "--db", db_url, check=True)
    assert {e.link for e in parsed(proc.stdout).entries} == {url_of(d) for d in CORPUS if d.key in ("sce-zh", "wimc-en")}
    proc = run_cli("feed", "--query", "智博会 OR Nanjing", "--source", "wire", "--db", db_url, check=True)
    assert [e.link for e in parsed(proc.stdout).entries] == [url_of(d) for d in CORPUS if d.key == "wimc-en"]


def test_entry_ids_survive_a_copy_of_the_store(store, tmp_path):
    """Ids come from canonical URLs, not row ids: the same story keeps its id in another store."""
    db_url, _ = store
    other = f"sqlite:///{tmp_path / 'other.db'}"
    build_store(other, tuple(reversed(CORPUS[:5])))  # other row ids, same stories
    ids = []
    for url in (db_url, other):
        with session_factory(url, for_writing=False)() as session:
            request = FeedRequest(text="Tianjin OR 天津")
            ids.append({e.link: e.id for e in parsed(render_feed(session, request.query(), title=request.title())).entries})
    assert ids[0] == ids[1] and len(ids[0]) == 2


def test_a_hostile_title_is_carried_as_text(sqlite_url):
    from dataclasses import replace

    doc = replace(CORPUS[0], key="evil", title='<script>alert(1)</script> & "quotes" \x07')
    build_store(sqlite_url, (doc,))
    with session_factory(sqlite_url, for_writing=False)() as session:
        feed = parsed(render_feed(session, FeedRequest(text="Meijiang").query(), title="t"))
    assert feed.entries[0].title == '<script>alert(1)</script> & "quotes"'


@pytest.mark.parametrize("args, message", [
    ([], "give --event SLUG or --query TEXT"),
    (["--event", "no-such-event"], "--event 'no-such-event': no such event"),
    (["--query", "expo", "--source", "nowhere"], "--source 'nowhere': no such source in the store"),
    (["--query", " ".join(f"w{i}" for i in range(100))], "--query: search query has 100 terms"),
])
@pytest.mark.integration
def test_bad_feed_requests_are_one_clear_line(store, run_cli, args, message):
    db_url, _ = store
    proc = run_cli("feed", *args, "--db", db_url)
    assert proc.returncode in (1, 2) and message in proc.stderr and "Traceback" not in proc.stderr
