"""`expowatch reextract`: new extraction from stored raw HTML, with no request to the site."""

from __future__ import annotations

from sqlalchemy import select, update

from crawler.extraction import EXTRACTOR_VERSION
from crawler.replica import ReplicaWeb
from storage.engine import session_factory
from storage.models import Article, ArticleEvent, SourceRow

SITE = "wic-tianjin"


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
