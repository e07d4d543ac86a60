"""`expowatch reextract`: new extraction from stored raw HTML, with no request to the site."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from crawler.extract.extraction import EXTRACTOR_VERSION
from crawler.replica import ReplicaWeb
from storage.engine import session_factory
from storage.models import Article, ArticleEvent, SourceRow

pytestmark = pytest.mark.integration

SITE = "wic-tianjin"


def user_events_file(tmp_path):
    """A user's events file adding an event the built-in taxonomy lacks (named by technews articles)."""
    events_file = tmp_path / "my-events.toml"
    events_file.write_text(
        '[[event]]\nslug = "light-of-internet-expo"\nname_en = "Light of Internet Expo"\n'
        'name_zh = "互联网之光博览会"\ncities = ["Wuzhen"]\nfirst_year = 2014\n'
    )
    return events_file


def test_reextract_rewrites_old_extractions_from_raw_html_without_fetching(tmp_path, db_url, run_cli):
    with ReplicaWeb() as web:
        sources = web.write_sources_file(tmp_path / "sources.toml")
        run_cli("crawl", SITE, "technews", "--sources-file", str(sources), "--db", db_url, check=True)
        make = session_factory(db_url)
        with make.begin() as session:  # what an older, worse extractor left behind
            ids = session.scalars(select(Article.id).join(SourceRow).where(SourceRow.name == SITE)).all()
            for article_id in ids:
                session.execute(update(Article).where(Article.id == article_id).values(
                    text=f"Home News Collection Collection stale text {article_id}", title="stale",
                    content_hash=f"stale-{article_id}", extractor_version="0.0"))
            session.execute(ArticleEvent.__table__.delete().where(ArticleEvent.article_id.in_(ids)))
        web.reset_counts()
        proc = run_cli("reextract", "--source", SITE, "--sources-file", str(sources), "--db", db_url, check=True)
        assert sum(web.request_counts().values()) == 0  # nothing fetched
        expected = {e.url: e.expected for e in web.expected_articles() if e.site == SITE}
    assert f"{len(ids)} re-extracted" in proc.stderr
    with make() as session:
        rows = session.execute(select(Article).join(SourceRow).where(SourceRow.name == SITE)).scalars().all()
        others = session.scalars(select(Article.extractor_version).join(SourceRow).where(SourceRow.name != SITE)).all()
        tagged = set(session.scalars(select(ArticleEvent.article_id).where(ArticleEvent.article_id.in_(ids))))
    assert others and all(v == EXTRACTOR_VERSION for v in others)
    for article in rows:
        assert article.extractor_version == EXTRACTOR_VERSION
        assert "stale" not in article.text and article.title != "stale"
        want = next(e for url, e in expected.items() if url.endswith(article.canonical_url.split("/", 3)[-1]))
        assert article.title == want["title"]
        assert all(snippet in article.text for snippet in want["must_contain"])
    assert tagged == set(ids)  # tags recomputed from the new text


def test_retag_with_a_new_event_in_a_user_file_tags_stored_articles_without_fetching(tmp_path, db_url, run_cli):
    events_file = user_events_file(tmp_path)
    with ReplicaWeb() as web:
        sources = web.write_sources_file(tmp_path / "sources.toml")
        run_cli("crawl", "technews", "--sources-file", str(sources), "--db", db_url, check=True)
        make = session_factory(db_url)
        with make() as session:
            naming = {a.id for a in session.scalars(select(Article)) if "Light of Internet Expo" in a.text}
            before = set(session.scalars(select(ArticleEvent.event)))
        assert naming and "light-of-internet-expo" not in before
        web.reset_counts()
        run_cli("retag", "--events-file", str(events_file), "--sources-file", str(sources), "--db", db_url, check=True)
        assert sum(web.request_counts().values()) == 0  # no refetching
    with make() as session:
        tagged = set(session.scalars(select(ArticleEvent.article_id).where(ArticleEvent.event == "light-of-internet-expo")))
    assert tagged == naming
    listed = run_cli("events", "list", "--events-file", str(events_file), "--db", db_url, "--format", "json", check=True)
    assert '"light-of-internet-expo"' in listed.stdout


def test_a_crawl_tags_with_the_events_file_it_is_given(tmp_path, sqlite_url, run_cli):
    """Tagging runs in the extraction workers: the user's events file must reach them, flag or environment."""
    events_file = user_events_file(tmp_path)
    with ReplicaWeb() as web:
        sources = web.write_sources_file(tmp_path / "sources.toml")
        run_cli("crawl", "technews", "--sources-file", str(sources), "--db", sqlite_url, check=True,
                env={"EXPOWATCH_EVENTS": str(events_file)})
    with session_factory(sqlite_url)() as session:
        naming = {a.id for a in session.scalars(select(Article)) if "Light of Internet Expo" in a.text}
        tagged = set(session.scalars(select(ArticleEvent.article_id).where(ArticleEvent.event == "light-of-internet-expo")))
    assert naming and tagged == naming


@pytest.mark.integration
def test_reextract_renews_the_minhash_and_its_bands(tmp_path, sqlite_url, run_cli):
    from storage.dedup import band_hashes, text_signature
    from storage.models import MinhashBand
    from storage.store import index_article

    with ReplicaWeb() as web:
        sources = web.write_sources_file(tmp_path / "sources.toml")
        run_cli("crawl", SITE, "--sources-file", str(sources), "--db", sqlite_url, check=True)
        make = session_factory(sqlite_url)
        with make.begin() as session:  # an older extractor's text, signature and near-duplicate index
            ids = session.scalars(select(Article.id)).all()
            for article_id in ids:
                stale = f"Home News Collection stale text of article {article_id} " * 5
                sig = text_signature(stale)
                session.execute(update(Article).where(Article.id == article_id).values(
                    text=stale, content_hash=f"stale-{article_id}", minhash=sig.to_bytes()))
                session.execute(MinhashBand.__table__.delete().where(MinhashBand.article_id == article_id))
                index_article(session, article_id, band_hashes(sig))
        run_cli("reextract", "--sources-file", str(sources), "--db", sqlite_url, check=True)
    with make() as session:
        for article in session.scalars(select(Article)).all():
            sig = text_signature(article.text)
            assert "stale" not in article.text and article.minhash == sig.to_bytes()
            bands = session.execute(select(MinhashBand.band, MinhashBand.band_hash)
                                    .where(MinhashBand.article_id == article.id).order_by(MinhashBand.band)).all()
            assert [tuple(b) for b in bands] == list(enumerate(band_hashes(sig)))
