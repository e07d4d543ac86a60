"""Re-extraction from stored raw HTML: read pages back, write new extraction results, no refetch."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crawler.dedup import Signature, band_hashes
from storage.models import Article, MinhashBand, RawPage, SourceRow
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
    return [StoredPage(row[0], row[1], row[2], row[3], zlib.decompress(row[4])) for row in session.execute(stmt)]


@dataclass(frozen=True)
class ExtractionUpdate:
    """The extraction fields of an article, as a new extractor produced them."""

    title: str | None
    text: str
    content_hash: str
    author: str | None
    published_at: datetime | None
    published_raw: str | None
    updated_at: datetime | None
    updated_raw: str | None
    date_flag: str | None
    published_precision: str | None
    date_source: str | None
    date_timezone: str | None
    encoding: str | None
    language: str | None
    extractor_version: str
    minhash: bytes | None = None  # crawler.dedup.Signature.to_bytes() of the new text


def apply_extraction(session: Session, article_id: int, fields: ExtractionUpdate) -> bool:
    """Write new extraction results to one article; False when its new text equals another article's.

    The caller owns the transaction; a refused update leaves the article as it was.
    """
    try:
        with session.begin_nested():
            session.execute(update(Article).where(Article.id == article_id).values(**fields.__dict__))
    except IntegrityError:  # content_hash is unique: the new text is an exact copy of another article
        return False
    if fields.minhash is not None:  # the near-duplicate index follows the new text
        session.execute(delete(MinhashBand).where(MinhashBand.article_id == article_id))
        index_article(session, article_id, band_hashes(Signature.from_bytes(fields.minhash)))
    return True
