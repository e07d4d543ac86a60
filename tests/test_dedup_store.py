"""Near-duplicate clusters in a real store (SQLite file and PostgreSQL): copies, traps, reruns."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from crawler.extract.extraction import ExtractedArticle
from storage.dedup import BANDS, DEFAULT_THRESHOLD, content_hash, jaccard, shingles, text_signature
from storage.duplicates import SAME_SOURCE_MARGIN, canonical_id_of, copies_of, copy_counts, find_near_duplicate, is_canonical
from storage.engine import session_factory
from storage.migrate import upgrade
from storage.models import Article, ArticleUrl, MinhashBand
from storage.store import ArticleRecord, ensure_source, store_article

T0 = datetime(2024, 6, 20, 1, 0, tzinfo=timezone.utc)

# Fixture texts written for these tests.
STORY = [
    "The harbour city welcomed the third Robotics and Automation Fair on Thursday, with about four hundred "
    "companies filling two exhibition halls near the river.",
    "Visitors queued early to watch welding arms, warehouse carts and a bionic hand that can sort small "
    "parts by touch, while school groups tried programming kits in a corner set aside for them.",
    "Organisers said the fair would stay open for four days and that a separate hall is reserved for "
    "start-ups showing sensors, control software and training kits for vocational schools.",
    "A forum on the first morning discussed how mid-sized factories can afford automation, and a regional "
    "bank announced a loan programme for equipment upgrades with lower rates for first-time borrowers.",
    "Next year the fair plans to add an outdoor area for agricultural drones and field robots, the "
    "organising committee said in a statement released after the opening ceremony.",
]
OTHER_STORY = [
    "Shipping lines serving the northern port reported record container volumes for the spring quarter, "
    "helped by new weekly services to South-East Asia.",
    "Port officials credited automated cranes installed last autumn, which shortened the time ships spend "
    "at berth by almost a fifth, and said a second terminal will open in two years.",
    "Trucking firms, however, complained about queues at the gates and asked for a booking system that "
    "spreads arrivals across the day instead of the early morning rush.",
]
HIGHLIGHTS = [
    "Monday's highlight: a university team won the warehouse robot race with a cart built from spare parts.",
    "Tuesday's highlight: the regional bank signed its first equipment loans with three family-run foundries.",
]
BRIEF_INTRO = ("The Fair Brief collects the main news of each fair day for readers who could not follow every "
               "forum. The fair is held at the riverside exhibition centre, with public open days at the end "
               "of the week and a free shuttle from the central station.")
BRIEF_FOOTER = ("Visitor information: the halls are open from nine to five. Two metro lines stop near the venue, "
                "buses leave from the airport every half hour, visitors must carry their registration code and "
                "an identity document, large bags are not allowed into the halls, and the service desks at both "
                "entrances handle lost property and first aid.")
STORY_ZH = (
    "第三届机器人与自动化博览会周四在港口城市开幕，约四百家企业参展，展区分布在河边的两个展馆。"
    "观众一早排队观看焊接机械臂、仓储搬运车以及一只能凭触觉分拣小零件的仿生手。"
    "组委会表示，本届博览会为期四天，另设初创企业展区，展示传感器、控制软件和职业院校实训设备。"
)


@pytest.fixture
def db(db_url):
    upgrade(db_url)
    return session_factory(db_url)


def record(source_id: int, url: str, title: str, text: str, *seen: str, signed: bool = True) -> ArticleRecord:
    return ArticleRecord(source_id=source_id, canonical_url=url, seen_urls=seen,
                         article=ExtractedArticle(url=url, title=title, text=text, extractor_version="test"),
                         content_hash=content_hash(text), minhash=text_signature(text).to_bytes() if signed else None)


def store(db, rec: ArticleRecord, at: int = 0, **kw):
    with db.begin() as s:
        return store_article(s, rec, now=T0 + timedelta(minutes=at), **kw)


def sources(db, *names: str) -> list[int]:
    with db.begin() as s:
        return [ensure_source(s, name) for name in names]


def count(db, model) -> int:
    with db() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_a_syndicated_copy_joins_the_story_with_its_url_source_time_and_similarity(db):
    org, wire, paper = sources(db, "organiser", "wire", "paper")
    original = store(db, record(org, "https://org.example/news/1", "Robotics Fair opens", " ".join(STORY)))
    wire_copy = store(db, record(
        wire, "https://wire.example/r/77", "Robotics Fair Opens in Harbour City",
        "HARBOUR CITY, May 9 (Wire) -- " + " ".join(STORY) + " Media contact: the fair's press office.",
        "https://wire.example/r/77?utm_source=rss"), at=5)
    reprint = store(db, record(
        paper, "https://paper.example/a/9", "Robotics Fair opens",
        "Editor's note: we print below the organisers' release. " + " ".join(STORY[:4])), at=9)
    exact = store(db, record(paper, "https://paper.example/a/10", "Fair", " ".join(STORY).upper()), at=12)

    assert original.outcome == "new" and original.canonical_id == original.article_id
    assert (wire_copy.outcome, wire_copy.canonical_id) == ("near_duplicate", original.article_id)
    assert (reprint.outcome, reprint.canonical_id) == ("near_duplicate", original.article_id)
    assert wire_copy.similarity >= DEFAULT_THRESHOLD and reprint.similarity >= DEFAULT_THRESHOLD
    assert (exact.outcome, exact.article_id) == ("exact_duplicate", original.article_id)
    with db() as s:
        copies = copies_of(s, reprint.article_id)  # asking via any copy gives the whole story
        assert canonical_id_of(s, wire_copy.article_id) == original.article_id
        assert copy_counts(s, [original.article_id, wire_copy.article_id]) == {
            original.article_id: 3, wire_copy.article_id: 3}
        assert s.scalars(select(Article.id).where(is_canonical())).all() == [original.article_id]
    assert [(c.url, c.source, c.relation) for c in copies] == [
        ("https://org.example/news/1", "organiser", "original"),
        ("https://wire.example/r/77", "wire", "near_copy"),
        ("https://wire.example/r/77?utm_source=rss", "wire", "alias"),
        ("https://paper.example/a/9", "paper", "near_copy"),
        ("https://paper.example/a/10", "paper", "exact_copy"),
    ]
    assert copies[1].similarity == wire_copy.similarity and copies[0].similarity == 1.0
    assert copies[1].first_seen_at == T0 + timedelta(minutes=5)


def test_a_copy_of_a_copy_points_at_the_first_seen_article(db):
    org, wire, blog = sources(db, "organiser", "wire", "blog")
    first = store(db, record(org, "https://org.example/1", "Fair opens", " ".join(STORY[:4])))
    second = store(db, record(wire, "https://wire.example/1", "Fair opens", " ".join(STORY)))
    third = store(db, record(blog, "https://blog.example/1", "Fair opens", " ".join(STORY[1:]) + " Comments are closed."))
    assert second.canonical_id == first.article_id
    assert third.canonical_id == first.article_id
    with db() as s:
        assert s.scalar(select(Article.duplicate_of_id).where(Article.id == third.article_id)) == first.article_id


def test_daily_briefs_sharing_a_long_template_stay_separate_stories(db):
    (site,) = sources(db, "city-daily")
    for n, para in enumerate(OTHER_STORY):  # the site's other pages carry the same template
        store(db, record(site, f"https://daily.example/brief/{n}", f"Fair Brief: {para[:20]}",
                         f"{BRIEF_INTRO} {para} {BRIEF_FOOTER}"), at=n)
    monday_text = f"{BRIEF_INTRO} {HIGHLIGHTS[0]} {BRIEF_FOOTER}"
    tuesday_text = f"{BRIEF_INTRO} {HIGHLIGHTS[1]} {BRIEF_FOOTER}"
    assert jaccard(shingles(monday_text), shingles(tuesday_text)) > DEFAULT_THRESHOLD  # the trap is real
    monday = store(db, record(site, "https://daily.example/brief/mon", "Fair Brief: robots", monday_text), at=10)
    tuesday = store(db, record(site, "https://daily.example/brief/tue", "Fair Brief: loans", tuesday_text), at=11)
    assert (monday.outcome, tuesday.outcome) == ("new", "new")
    assert tuesday.canonical_id == tuesday.article_id


def test_two_pages_of_one_site_need_more_similarity_than_copies_across_sites(db):
    site, elsewhere = sources(db, "city-daily", "wire")
    first = store(db, record(site, "https://daily.example/brief/a", "Fair Brief: robots",
                             f"{BRIEF_INTRO} {HIGHLIGHTS[0]} {BRIEF_FOOTER}"))
    second = f"{BRIEF_INTRO} {HIGHLIGHTS[1]} {BRIEF_FOOTER}"  # no earlier brief shows the template yet
    similarity = jaccard(shingles(second), shingles(f"{BRIEF_INTRO} {HIGHLIGHTS[0]} {BRIEF_FOOTER}"))
    assert DEFAULT_THRESHOLD < similarity < DEFAULT_THRESHOLD + SAME_SOURCE_MARGIN
    with db() as s:
        same_site = find_near_duplicate(s, sig=text_signature(second), text=second, title="Fair Brief: loans",
                                        source_id=site)
        other_site = find_near_duplicate(s, sig=text_signature(second), text=second, title="Fair Brief: loans",
                                         source_id=elsewhere)
    assert same_site is None
    assert other_site is not None and other_site.canonical_id == first.article_id


def test_the_first_two_briefs_of_a_site_stay_apart_by_the_dates_in_their_titles(db):
    (site,) = sources(db, "city-daily")
    template = " ".join([*OTHER_STORY, STORY[4]])
    first_text, second_text = f"{template} {HIGHLIGHTS[0]}", f"{template} {HIGHLIGHTS[1]}"
    assert jaccard(shingles(first_text), shingles(second_text)) > DEFAULT_THRESHOLD  # no template known yet
    store(db, record(site, "https://daily.example/b/27", "Fair Brief | August 27", first_text))
    second = store(db, record(site, "https://daily.example/b/28", "Fair Brief | August 28", second_text))
    assert second.outcome == "new"


def test_releases_about_different_editions_of_one_event_are_different_stories(db):
    (org,) = sources(db, "organiser")
    body = " ".join(STORY)
    store(db, record(org, "https://org.example/2023", "2023 Robotics Fair opens", body.replace("third", "second")))
    next_year = store(db, record(org, "https://org.example/2024", "2024 Robotics Fair opens", body))
    assert next_year.outcome == "new"


def test_chinese_and_english_versions_stay_separate_articles(db):
    en_site, zh_site = sources(db, "organiser-en", "organiser-zh")
    store(db, record(en_site, "https://org.example/en/1", "Robotics Fair opens", " ".join(STORY[:3])))
    zh = store(db, record(zh_site, "https://org.example/zh/1", "第三届机器人与自动化博览会开幕", STORY_ZH))
    assert zh.outcome == "new"


def test_threshold_decides_how_close_a_copy_must_be(db):
    org, wire = sources(db, "organiser", "wire")
    store(db, record(org, "https://org.example/1", "Fair opens", " ".join(STORY)))
    trimmed = " ".join(STORY[:4])  # one paragraph of five cut: similarity about 0.8
    strict = store(db, record(wire, "https://wire.example/strict", "Fair opens", trimmed), near_threshold=0.95)
    assert strict.outcome == "new"
    loose = store(db, record(wire, "https://wire.example/loose", "Fair opens", trimmed + " (Wire)"), near_threshold=0.7)
    assert loose.outcome == "near_duplicate"
    with db() as s, pytest.raises(ValueError, match="threshold"):
        find_near_duplicate(s, sig=text_signature(trimmed), text=trimmed, title=None, source_id=org, threshold=0)


def test_storing_everything_again_adds_no_row(db):
    org, wire = sources(db, "organiser", "wire")
    pages = [
        record(org, "https://org.example/1", "Fair opens", " ".join(STORY), "https://org.example/1/"),
        record(wire, "https://wire.example/1", "Fair opens", "(Wire) " + " ".join(STORY)),
        record(wire, "https://wire.example/2", "Fair", " ".join(STORY).lower()),
        record(org, "https://org.example/2", "Port volumes", " ".join(OTHER_STORY)),
    ]
    first = [store(db, p, at=i) for i, p in enumerate(pages)]
    counts = [count(db, m) for m in (Article, ArticleUrl, MinhashBand)]
    again = [store(db, p, at=60 + i) for i, p in enumerate(pages)]
    assert [count(db, m) for m in (Article, ArticleUrl, MinhashBand)] == counts
    assert [a.outcome for a in again] == ["known_url"] * 4
    assert [a.canonical_id for a in again] == [f.canonical_id for f in first]


def test_a_page_with_changed_text_at_a_known_url_is_not_a_new_copy(db):
    (org,) = sources(db, "organiser")
    store(db, record(org, "https://org.example/1", "Fair opens", " ".join(STORY)))
    edited = store(db, record(org, "https://org.example/1", "Fair opens", " ".join(STORY) + " Updated at noon."))
    assert edited.outcome == "known_url"
    assert count(db, Article) == 1


def test_an_article_without_a_signature_is_stored_without_near_duplicate_check(db):
    org, wire = sources(db, "organiser", "wire")
    store(db, record(org, "https://org.example/1", "Fair opens", " ".join(STORY)))
    unsigned = store(db, record(wire, "https://wire.example/1", "Fair", "(Wire) " + " ".join(STORY), signed=False))
    assert unsigned.outcome == "new"
    assert count(db, MinhashBand) == BANDS  # only the signed article is indexed


def test_two_writers_storing_copies_at_once_make_one_story_on_postgresql(postgres_server):
    """The second writer waits for the first's decision instead of missing its uncommitted article."""
    url = postgres_server.create_database()
    upgrade(url)
    db = session_factory(url)
    org, wire = sources(db, "organiser", "wire")
    first_session = db()
    first_tx = first_session.begin()
    first = store_article(first_session, record(org, "https://org.example/1", "Fair opens", " ".join(STORY)))
    outcome = {}

    def second_writer():
        with db.begin() as s:
            outcome["copy"] = store_article(s, record(wire, "https://wire.example/1", "Fair opens",
                                                      "(Wire) " + " ".join(STORY)))

    writer = threading.Thread(target=second_writer)
    writer.start()
    waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    with db() as watcher:  # commit the first article once the second writer waits (or has not waited)
        while writer.is_alive() and not watcher.scalar(waiting):
            writer.join(0.01)
    first_tx.commit()
    first_session.close()
    writer.join(30)
    assert outcome["copy"].outcome == "near_duplicate"
    assert outcome["copy"].canonical_id == first.article_id


def test_a_store_recreated_at_the_same_url_is_not_judged_by_the_old_texts(sqlite_url, tmp_path):
    """Shingles cached per process belong to an article's text, not to its id."""
    from storage.engine import dispose_engines

    for attempt, (first_text, copy_text, expected) in enumerate([
        (" ".join(STORY), "(Wire) " + " ".join(STORY), "near_duplicate"),
        # same ids, other texts: the new article 1 shares a band with the copy but not the story
        (" ".join(STORY[:3] + OTHER_STORY), "(Wire) " + " ".join(STORY), "new"),
    ]):
        dispose_engines()
        for leftover in tmp_path.glob("store.db*"):
            leftover.unlink()
        upgrade(sqlite_url)
        db = session_factory(sqlite_url)
        org, wire, paper = sources(db, "organiser", "wire", "paper")
        store(db, record(org, "https://org.example/1", "Fair", first_text))
        store(db, record(paper, "https://paper.example/1", "Port", " ".join(OTHER_STORY[::-1])))
        copy = store(db, record(wire, "https://wire.example/1", "Fair", copy_text))
        assert copy.outcome == expected, f"attempt {attempt}"
