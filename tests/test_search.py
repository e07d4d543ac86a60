"""Searching the store: English and Chinese text, hostile input, filters, one row per story, --new."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy import text as text_sql

from conftest import BACKENDS
from crawler.events import EventTag, Evidence
from crawler.extract.extraction import ExtractedArticle
from storage.dedup import content_hash
from storage.engine import session_factory
from storage.events import replace_article_tags
from storage.migrate import upgrade
from storage.models import Article, ArticleUrl
from storage.queries import (
    SearchQuery,
    count,
    get_article,
    search,
    search_and_count,
    search_articles,
    search_new,
)
from storage.query_syntax import parse_query
from storage.runs import finish_run, start_run
from storage.store import ArticleRecord, ensure_source, store_article


@dataclass(frozen=True)
class Doc:
    """One fixture article: where it came from, what it says, how it is tagged."""

    key: str
    source: str
    title: str | None
    text: str
    language: str | None
    published: datetime | None
    tags: tuple[tuple[str, str, int | None, int | None], ...] = ()  # event, role, edition, year
    copy_of: str | None = None  # key of the article this one is a near-duplicate copy of
    also_seen_at: tuple[tuple[str, str], ...] = ()  # (source, url) where an exact copy appeared


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


CORPUS = (
    Doc("wie-en", "wie-org", "World Intelligence Expo opens in Tianjin",
        "Robots, driverless buses and a brain-computer interface demo drew crowds on the first day "
        "of the expo at the Meijiang centre. Organisers said 50% of exhibitors were new and that a "
        "conference on service robots ran alongside.",
        "en", utc(2024, 6, 20, 2), (("world-intelligence-expo", "primary", 8, 2024),
                                    ("world-intelligence-congress", "mentioned", None, None))),
    Doc("wie-zh", "zh-organiser", "2024世界智能产业博览会在天津开幕",
        "本届博览会展示了机器人、无人驾驶和脑机接口等成果。\n多家企业在现场发布新品。",
        "zh", utc(2024, 6, 20, 1), (("world-intelligence-expo", "primary", 8, 2024),)),
    Doc("sce-zh", "zh-organiser", "智博会在重庆开幕",
        "第二届智博会聚焦智能网联汽车，观众在园区体验自动驾驶。",
        "zh", utc(2019, 8, 26, 1, 30), (("smart-china-expo", "primary", 2, 2019),)),
    Doc("wimc-en", "wire", "Manufacturing conference opens in Nanjing",
        "Factories showed digital twins and industrial robots to visitors; the smart china expo "
        "was mentioned as a partner.",
        "en", utc(2020, 11, 26, 3), (("world-intelligent-manufacturing-conference", "primary", None, 2020),
                                     ("smart-china-expo", "mentioned", None, 2020))),
    Doc("wic-wuzhen", "wire", "Internet conference closes in Wuzhen",
        "Delegates discussed data rules and cross-border trade; the C++ track and a who's who of "
        "cloud vendors filled the hall.",
        "en-GB", utc(2017, 12, 5, 9), (("world-internet-conference", "primary", 4, 2017),),
        also_seen_at=(("mirror", "https://mirror.example/wuzhen-closing"),)),
    Doc("wie-en-copy", "wire", "World Intelligence Expo opens in Tianjin, wire report",
        "Robots, driverless buses and a brain-computer interface demo drew crowds on the first day "
        "of the expo at the Meijiang centre, the wire reported.",
        "en", utc(2024, 6, 20, 5), (("world-intelligence-expo", "primary", 8, 2024),), copy_of="wie-en"),
    Doc("undated", "wire", None,
        "A note on logistics: shuttle buses run every 15 minutes and AI guides stand at the gate.",
        None, None),
)


def url_of(doc: Doc) -> str:
    return f"https://{doc.source}.example/{doc.key}"


def record_of(doc: Doc, source_id: int, url: str | None = None) -> ArticleRecord:
    url = url or url_of(doc)
    article = ExtractedArticle(url=url, title=doc.title, text=doc.text, published_at=doc.published,
                               published_raw=doc.published.isoformat() if doc.published else None,
                               language=doc.language, extractor_version="test")
    return ArticleRecord(source_id=source_id, canonical_url=url, seen_urls=(), article=article,
                         content_hash=content_hash(doc.text))


def tag_of(event: str, role: str, edition: int | None, year: int | None) -> EventTag:
    return EventTag(event, role, edition, year, 0.9, (Evidence("title", "name", event, 0, len(event), event),))


def build_store(db_url: str, docs=CORPUS, *, now: datetime | None = None) -> dict[str, int]:
    """A store holding docs, inserted the way the crawler does; returns {key: article id}."""
    upgrade(db_url)
    ids: dict[str, int] = {}
    with session_factory(db_url).begin() as session:
        for doc in docs:
            stored = store_article(session, record_of(doc, ensure_source(session, doc.source)), now=now)
            ids[doc.key] = stored.article_id
            replace_article_tags(session, stored.article_id, [tag_of(*t) for t in doc.tags], "test")
            if doc.copy_of:  # what the dedup step records for a near duplicate
                session.execute(update(Article).where(Article.id == stored.article_id)
                                .values(duplicate_of_id=ids[doc.copy_of], similarity=0.9))
            for source, url in doc.also_seen_at:
                store_article(session, record_of(doc, ensure_source(session, source), url), now=now)
    return ids


@pytest.fixture(scope="module", params=BACKENDS)
def store(request, tmp_path_factory):
    """The corpus in a store on each backend, built once per module: tests using it only read."""
    if request.param == "sqlite":
        db_url = f"sqlite:///{tmp_path_factory.mktemp('search') / 'store.db'}"
    else:
        db_url = request.getfixturevalue("postgres_server").create_database()
    return db_url, build_store(db_url)


@pytest.fixture
def fresh_store(db_url):
    """The corpus in a store of its own, for tests that change it."""
    return db_url, build_store(db_url)


def run(db_url: str, query: SearchQuery, *, use_index: bool = True) -> list[int]:
    with session_factory(db_url, for_writing=False)() as session:
        return [h.id for h in search(session, query, use_index=use_index)]


def keys(ids: dict[str, int], found: list[int]) -> set[str]:
    by_id = {v: k for k, v in ids.items()}
    return {by_id[i] for i in found}


def oracle(text: str, docs=CORPUS, *, all_copies: bool = False) -> set[str]:
    """The documented meaning of a query, computed in Python: case-insensitive substrings."""
    def has(doc: Doc, term: str) -> bool:
        return any(term.lower() in (field or "").lower() for field in (doc.title, doc.text))

    return {d.key for d in docs if (all_copies or d.copy_of is None)
            and all(any(has(d, t) for t in c.terms) != c.negated for c in parse_query(text))}


SEARCHES = [
    "robots", "ROBOTS", "Tianjin", "expo", "expo -robots", '"smart china expo"', "Nanjing OR Wuzhen",
    "智博会", "智博", "重庆", "机器人", "天津 OR Tianjin", "博览会 -机器人", "自动驾驶 智能", "AI", "50%",
    "conference -Wuzhen", "driverless buses", '"brain-computer interface"', "expo OR 智博 -Meijiang",
]
HOSTILE = [
    "C++", '"', "who's", "*", "'; DROP TABLE articles; --", 'x" OR 1=1 --', "NEAR(robots buses)", "title:robots",
    "^expo", "(((", ")", "robots AND", "NOT", "OR", "-", "--", '-"', '""', "%", "_", "\\", "%%%", "___",
    "{title text}: expo", "robots*", "a\x00b", "🙂", "' OR '1'='1", "1; SELECT * FROM sources", "$$", ":",
]


@pytest.mark.parametrize("text", SEARCHES + HOSTILE)
def test_search_returns_exactly_the_articles_the_query_describes(store, text):
    db_url, ids = store
    found = run(db_url, SearchQuery(text, limit=None))
    assert len(found) == len(set(found))
    assert keys(ids, found) == oracle(text)
    assert run(db_url, SearchQuery(text, limit=None), use_index=False) == found  # the LIKE scan agrees


@pytest.mark.parametrize("all_copies", [False, True])
def test_counts_agree_whether_the_matches_are_read_from_the_index_or_not(store, monkeypatch, all_copies):
    """count() and search_and_count() use the matches read from the text index when they are all
    there (KNOWN_MATCHES), else the index itself: the same totals, the oracle's."""
    import storage.search_sql

    db_url, _ = store
    for known in (storage.search_sql.KNOWN_MATCHES, 0):
        monkeypatch.setattr(storage.search_sql, "KNOWN_MATCHES", known)
        with session_factory(db_url, for_writing=False)() as session:
            for text in SEARCHES + ["", "Meijiang -nothing"]:
                for query in (SearchQuery(text, all_copies=all_copies, limit=2),
                              SearchQuery(text, all_copies=all_copies, limit=1, offset=1, sort="relevance"),
                              SearchQuery(text, all_copies=all_copies, since=utc(2024, 1, 1), limit=None)):
                    total = count(session, query)
                    if not query.since:
                        assert total == len(oracle(text, all_copies=all_copies)), (known, query)
                    hits, counted = search_and_count(session, query)
                    assert ([h.id for h in hits], counted) == ([h.id for h in search(session, query)], total)


def test_relevance_scored_from_known_matches_is_fts5s_bm25(store, monkeypatch):
    """(SQLite.) storage.relevance scores the matches read from the index as FTS5's bm25() does,
    and a page by relevance is the same whichever of the two ranks it."""
    import storage.search_sql
    from storage.search_sql import RANK_FUNCTION, TEXT_WEIGHT, TITLE_WEIGHT, fts_expression_of, known_matches
    from storage import relevance

    db_url, _ = store
    if not db_url.startswith("sqlite"):
        pytest.skip("FTS5 is SQLite's")
    texts = [t for t in SEARCHES + ["expo OR conference -Wuzhen", "expo expo OR robots robots"]
             if fts_expression_of(SearchQuery(t))]
    with session_factory(db_url, for_writing=False)() as session:
        for text in texts:
            expression = fts_expression_of(SearchQuery(text))
            fts5 = dict(session.execute(text_sql(f"SELECT rowid, {RANK_FUNCTION.replace('bm25(', 'bm25(articles_fts, ')} "
                                                 "FROM articles_fts WHERE articles_fts MATCH :e"), {"e": expression}).all())
            clauses = [c for c in parse_query(text) if c.indexable]
            phrases = [t for c in clauses if not c.negated for t in c.terms]
            phrase_rows = [len(known_matches(session, f'"{p}"')) for p in phrases]
            rows = session.execute(select(Article.id, Article.title, Article.text).where(Article.id.in_(fts5))).all()
            ours = relevance.ranks(session, phrases, phrase_rows, rows, (TITLE_WEIGHT, TEXT_WEIGHT))
            assert ours.keys() == fts5.keys() and all(ours[i] == pytest.approx(fts5[i], rel=1e-9) for i in fts5), text
    pages = {}
    for known in (storage.search_sql.KNOWN_MATCHES, 0):  # scored here, or by FTS5 (ORDER BY rank)
        monkeypatch.setattr(storage.search_sql, "KNOWN_MATCHES", known)
        pages[known] = [[run(db_url, SearchQuery(t, sort="relevance", limit=2, offset=o)) for o in (0, 2, 4)]
                        for t in texts]
    assert len(set(map(repr, pages.values()))) == 1


def test_english_and_chinese_words_find_their_articles(store):
    db_url, ids = store
    assert keys(ids, run(db_url, SearchQuery("Meijiang"))) == {"wie-en"}
    assert keys(ids, run(db_url, SearchQuery("智博"))) == {"sce-zh"}  # two characters: below a trigram
    assert keys(ids, run(db_url, SearchQuery("脑机接口"))) == {"wie-zh"}
    assert keys(ids, run(db_url, SearchQuery("智博会 OR Meijiang"))) == {"sce-zh", "wie-en"}
    assert keys(ids, run(db_url, SearchQuery("C++"))) == {"wic-wuzhen"}
    assert run(db_url, SearchQuery("'; DROP TABLE articles; --")) == []
    with session_factory(db_url)() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == len(CORPUS)


def test_search_follows_edits_and_deletes(fresh_store):
    """The text index is kept in step with the articles table (SQLite triggers, PostgreSQL indexes)."""
    db_url, ids = fresh_store
    with session_factory(db_url).begin() as session:
        session.execute(update(Article).where(Article.id == ids["sce-zh"]).values(text="改写后的文本讲述会展经济。"))
        session.execute(update(Article).where(Article.id == ids["wimc-en"]).values(last_seen_at=utc(2025, 1, 1)))
    with session_factory(db_url).begin() as session:
        session.execute(delete(ArticleUrl).where(ArticleUrl.article_id == ids["undated"]))
        session.execute(delete(Article).where(Article.id == ids["undated"]))
    assert run(db_url, SearchQuery("shuttle")) == []
    assert run(db_url, SearchQuery("智能网联")) == []
    assert keys(ids, run(db_url, SearchQuery("会展经济"))) == {"sce-zh"}
    assert keys(ids, run(db_url, SearchQuery("digital twins"))) == {"wimc-en"}


def test_one_row_per_story_unless_all_copies(store):
    db_url, ids = store
    assert keys(ids, run(db_url, SearchQuery("Meijiang"))) == {"wie-en"}
    assert keys(ids, run(db_url, SearchQuery("Meijiang", all_copies=True))) == {"wie-en", "wie-en-copy"}
    assert keys(ids, run(db_url, SearchQuery(limit=None))) == {d.key for d in CORPUS if not d.copy_of}


@pytest.mark.parametrize("query, expected", [
    (SearchQuery(events=("world-intelligence-expo",)), {"wie-en", "wie-zh"}),
    (SearchQuery(events=("World-Intelligence-Expo",)), {"wie-en", "wie-zh"}),
    (SearchQuery(events=("smart-china-expo",)), {"sce-zh", "wimc-en"}),
    (SearchQuery(events=("smart-china-expo",), roles=("primary",)), {"sce-zh"}),
    (SearchQuery(events=("smart-china-expo",), roles=("mentioned",)), {"wimc-en"}),
    (SearchQuery(events=("smart-china-expo",), years=(2019,)), {"sce-zh"}),
    (SearchQuery(events=("smart-china-expo", "world-internet-conference")), {"sce-zh", "wimc-en", "wic-wuzhen"}),
    (SearchQuery(events=("world-internet-conference",), editions=(4,)), {"wic-wuzhen"}),
    (SearchQuery(events=("world-internet-conference",), editions=(5,)), set()),
    (SearchQuery(years=(2024,)), {"wie-en", "wie-zh"}),
    (SearchQuery(events=("world-intelligence-congress",), years=(2024,)), set()),  # the 2024 tag is another event's
    (SearchQuery("robots", events=("world-intelligence-expo",)), {"wie-en"}),
    (SearchQuery(sources=("zh-organiser",)), {"wie-zh", "sce-zh"}),
    (SearchQuery(sources=("mirror",)), {"wic-wuzhen"}),  # an exact copy seen at the mirror
    (SearchQuery(sources=("wire",)), {"wimc-en", "wic-wuzhen", "undated", "wie-en"}),  # wie-en: its copy ran there
    (SearchQuery(sources=("wire",), all_copies=True), {"wimc-en", "wic-wuzhen", "undated", "wie-en-copy"}),
    (SearchQuery(sources=("wire", "wie-org"), languages=("en",)), {"wimc-en", "wic-wuzhen", "wie-en"}),
    (SearchQuery(languages=("zh",)), {"wie-zh", "sce-zh"}),
    (SearchQuery(languages=("EN",)), {"wie-en", "wimc-en", "wic-wuzhen"}),  # en-GB is English
    (SearchQuery(languages=("en-gb",)), {"wic-wuzhen"}),
    (SearchQuery(since=utc(2024, 1, 1)), {"wie-en", "wie-zh", "undated"}),  # undated: by first seen (now)
    (SearchQuery(since=utc(2019, 1, 1), until=utc(2021, 1, 1)), {"sce-zh", "wimc-en"}),
    (SearchQuery(until=utc(2024, 6, 20, 2)), {"wie-zh", "sce-zh", "wimc-en", "wic-wuzhen"}),  # until is exclusive
    (SearchQuery(since=utc(2024, 1, 1), date_field="first_seen"), {d.key for d in CORPUS if not d.copy_of}),
    (SearchQuery("智博 OR robots", languages=("zh",), since=utc(2019, 1, 1)), {"sce-zh"}),
])
def test_filters_combine(store, monkeypatch, query, expected):
    import storage.search_sql

    db_url, ids = store
    everything = run(db_url, replace(query, limit=None))
    assert keys(ids, everything) == expected
    for dense_factor in (0, 10**9):  # a page found from the filters' ids, or by walking the date index
        monkeypatch.setattr(storage.search_sql, "DENSE_FACTOR", dense_factor)
        assert [i for o in (0, 2, 4) for i in run(db_url, replace(query, limit=2, offset=o))] == everything


def test_sort_orders_and_paging(store):
    db_url, ids = store
    newest = run(db_url, SearchQuery(limit=None))
    dated = [d for d in CORPUS if not d.copy_of and d.published]
    assert newest == [ids[d.key] for d in sorted(dated, key=lambda d: d.published, reverse=True)] + [ids["undated"]]
    pages = [run(db_url, SearchQuery(limit=2, offset=o)) for o in range(0, len(newest), 2)]
    assert [i for page in pages for i in page] == newest
    with session_factory(db_url, for_writing=False)() as session:
        assert count(session, SearchQuery(limit=1)) == len(newest)
    assert run(db_url, SearchQuery(sort="first_seen", limit=None)) == sorted(newest, reverse=True)  # insert order
    # relevance: a term in the title weighs more than the same term in the (newer) text
    assert run(db_url, SearchQuery("conference", limit=None))[0] == ids["wie-en"]
    best = run(db_url, SearchQuery("conference", sort="relevance", limit=None))
    assert keys(ids, best[:2]) == {"wimc-en", "wic-wuzhen"} and best[2] == ids["wie-en"]


def test_hits_carry_events_primary_first(store):
    db_url, ids = store
    with session_factory(db_url, for_writing=False)() as session:
        [hit] = search(session, SearchQuery("Meijiang"))
        assert hit.events == ("world-intelligence-expo", "world-intelligence-congress")
        assert json.loads(json.dumps(hit.to_dict()))["published_at"] == "2024-06-20T02:00:00+00:00"
        assert [h.id for h in search_articles(session, "Meijiang")] == [hit.id]


def test_show_gives_events_with_evidence_urls_and_copies(store):
    db_url, ids = store
    with session_factory(db_url, for_writing=False)() as session:
        detail = get_article(session, ids["wie-en"])
        assert detail.article.text == CORPUS[0].text
        assert [t.event for t in detail.article.events] == ["world-intelligence-expo", "world-intelligence-congress"]
        assert detail.article.events[0].evidence[0]["match"] == "world-intelligence-expo"
        assert [c.id for c in detail.copies] == [ids["wie-en-copy"]]
        copy = get_article(session, url_of(CORPUS[5]))
        assert copy.original.id == ids["wie-en"] and copy.copies == ()
        wuzhen = get_article(session, "https://mirror.example/wuzhen-closing")
        assert [(u.source, u.relation) for u in wuzhen.article.urls] == [("wire", "original"), ("mirror", "exact_copy")]
        assert get_article(session, "https://nowhere.example/") is None
        assert get_article(session, 10**30) is None


def test_new_returns_only_articles_first_seen_since_the_last_run(db_url):
    first, later = CORPUS[:3], CORPUS[3:5]
    build_store(db_url, first, now=utc(2025, 1, 1))
    query = SearchQuery(languages=("zh", "en"))
    write = session_factory(db_url)
    with write.begin() as session:
        assert len(search_new(session, query, now=utc(2025, 1, 2))) == 3
    with write.begin() as session:
        assert search_new(session, query, now=utc(2025, 1, 3)) == []
    build_store(db_url, later, now=utc(2025, 1, 4))
    with write.begin() as session:
        assert {h.title for h in search_new(session, query, now=utc(2025, 1, 5))} == {d.title for d in later}
        assert len(search_new(session, query, "another name", now=utc(2025, 1, 5))) == 5


def test_since_run_filter_uses_the_run_start(db_url):
    build_store(db_url, CORPUS[:2], now=utc(2025, 1, 1))
    with session_factory(db_url).begin() as session:
        run_id = start_run(session, ensure_source(session, "wire"))
        finish_run(session, run_id, status="ok")
    from storage.queries import run_started_at

    with session_factory(db_url)() as session:
        started = run_started_at(session, run_id)
        assert started > utc(2025, 1, 1)
        with pytest.raises(LookupError, match="no crawl run"):
            run_started_at(session, run_id + 1)
    ids = build_store(db_url, CORPUS[2:3], now=started + timedelta(seconds=1))
    assert run(db_url, SearchQuery(first_seen_since=started)) == [ids["sce-zh"]]


def test_search_migration_downgrades_and_indexes_existing_articles_on_upgrade(db_url):
    from alembic import command

    from storage.engine import get_engine
    from storage.migrate import alembic_config

    ids = build_store(db_url, CORPUS[:2])
    cfg = alembic_config(db_url)
    with get_engine(db_url).begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    upgrade(db_url)
    assert run(db_url, SearchQuery("智能产业")) == [ids["wie-zh"]]
    assert run(db_url, SearchQuery("Meijiang")) == [ids["wie-en"]]


@pytest.mark.parametrize("sort", ["published", "first_seen"])
def test_every_page_plan_gives_the_same_pages(store, monkeypatch, sort):
    """Text index first, the matches read from it and sorted, or the date index first testing each
    article (against the matches read from the index, against the index, or by LIKE)."""
    import storage.search_sql
    from storage.search_sql import known_matches

    db_url, ids = store
    for text in SEARCHES:
        pages = {}
        # date-like looks through the newest LIKE_WINDOW articles first: all of them, or 0 or 2
        # (nothing or too little found there: it falls back to the date index)
        for plan, known, window in (("index", False, 0), ("ids", True, 0), ("date-index", False, 0),
                                    ("date-index", True, 0), ("date-like", False, 10**6),
                                    ("date-like", False, 0), ("date-like", False, 2)):
            def planned(session, query, expression, plan=plan, known=known):
                return plan, known_matches(session, expression) if known else None

            monkeypatch.setattr(storage.search_sql, "page_plan", planned)
            monkeypatch.setattr(storage.search_sql, "LIKE_WINDOW", window)
            pages[plan, known, window] = [run(db_url, SearchQuery(text, sort=sort, limit=2, offset=o))
                                          for o in (0, 2, 4)]
        assert len(set(map(repr, pages.values()))) == 1, (text, pages)
        pages["index"] = pages["index", False, 0]
        monkeypatch.undo()  # the planner's own choice ("ids" here: few match)
        assert [run(db_url, SearchQuery(text, sort=sort, limit=2, offset=o)) for o in (0, 2, 4)] == pages["index"]
        assert {i for page in pages["index"] for i in page} == {ids[k] for k in oracle(text)}


def test_page_plan_follows_how_many_articles_match(sqlite_url, monkeypatch):
    """(SQLite only: PostgreSQL's planner decides for itself.)"""
    import storage.search_sql
    from storage.search_sql import page_plan
    from storage.query_syntax import fts5_expression

    build_store(sqlite_url)
    with session_factory(sqlite_url, for_writing=False)() as session:
        def plan(text, limit=1):
            return page_plan(session, SearchQuery(text, limit=limit), fts5_expression(parse_query(text)))
        every_expo = sorted(run(sqlite_url, SearchQuery("expo", all_copies=True, limit=None)))
        monkeypatch.setattr(storage.search_sql, "DENSE_FACTOR", 0.3)  # dense from 0.3 * sqrt(1 * 7) = 0.79 matches
        assert plan("nonexistent") == ("ids", [])
        how, ids = plan("expo")  # dense, but few enough to read them all (KNOWN_MATCHES): a bounded cost
        assert how == "ids" and sorted(ids) == every_expo
        monkeypatch.setattr(storage.search_sql, "KNOWN_MATCHES", 0)  # more matches than are read from the index
        assert plan("Meijiang") == ("date-like", None)
        assert plan("Meijiang -École") == ("date-index", None)  # LIKE would not fold É
        monkeypatch.setattr(storage.search_sql, "DENSE_FACTOR", 1)
        how, ids = plan("expo", limit=9)
        assert how == "ids" and sorted(ids) == every_expo
