"""Re-extraction from stored raw HTML: read pages back, write new extraction results, no refetch."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.dedup import Signature, band_hashes
from storage.models import Article, MinhashBand, RawPage, SourceRow, extracted_values
from storage.rawhtml import decompress_html
from storage.store import index_article


@dataclass(frozen=True)
class StoredPage:
    """One article's raw HTML as fetched, with what is needed to extract it again."""

    article_id: int
    url: str
    source: str
    http_charset: str | None
    html: bytes


def stored_pages(session: Session, *, source: str | None = None, after_id: int = 0,
                 limit: int = 200) -> list[StoredPage]:
    """The next `limit` articles' raw pages after article id `after_id` (optionally of one source).

    Keyset paging keeps memory flat however large the store is.
    """
    stmt = (
        select(RawPage.article_id, RawPage.url, SourceRow.name, RawPage.http_charset, RawPage.html_zlib)
        .join(Article, Article.id == RawPage.article_id)
        .join(SourceRow, Article.source_id == SourceRow.id)
        .where(RawPage.article_id > after_id)
        .order_by(RawPage.article_id)
        .limit(limit)
    )
    if source:
        stmt = stmt.where(SourceRow.name == source)
    return [StoredPage(row[0], row[1], row[2], row[3], decompress_html(row[4])) for row in session.execute(stmt)]


def apply_extraction(session: Session, article_id: int, article: object, *, content_hash: str,
                     minhash: bytes | None) -> bool:
    """Write a new extraction of one article: its extraction columns, content hash, MinHash and LSH bands.

    article is the extracted article (read by the names in EXTRACTED_COLUMNS), content_hash
    and minhash its fingerprints (the crawl's page work computes all three). Returns False,
    leaving the article as it was, when the new text equals another article's. The caller
    owns the transaction.
    """
    try:
        with session.begin_nested():
            session.execute(update(Article).where(Article.id == article_id).values(
                **extracted_values(article), content_hash=content_hash, minhash=minhash))
            session.execute(delete(MinhashBand).where(MinhashBand.article_id == article_id))
            if minhash is not None:
                index_article(session, article_id, band_hashes(Signature.from_bytes(minhash)))
    except IntegrityError:  # content_hash is unique: the new text is an exact copy of another article
        return False
    return True
