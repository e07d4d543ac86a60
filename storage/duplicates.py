"""Near-duplicate clusters in the store: LSH band lookups, confirmation, and cluster queries.

An article's MinHash is cut into bands (storage.dedup.band_hashes) and one row per band
goes into minhash_bands. A new article's candidates are the articles sharing a band: a
few indexed lookups whatever the size of the store. Each candidate is then confirmed on
the texts themselves, with the template its source repeats on every page set aside, and
with the numbers in the titles compared. The first-seen article of a cluster is its
canonical article (duplicate_of_id NULL); every copy points straight at it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

import numpy as np
from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from storage.dedup import (
    BANDS,
    DEFAULT_THRESHOLD,
    Signature,
    band_hashes,
    estimate_jaccard,
    shingles,
    titles_conflict,
)
from storage.models import Article, ArticleUrl, MinhashBand, SourceRow

CANDIDATE_LIMIT = 20  # candidates confirmed per article, most shared bands first: bounds the cost
#                       when a template makes many articles collide, far above real copy counts
ESTIMATE_MARGIN = 0.3  # a candidate whose estimated Jaccard (whole texts, site furniture included) is
#                        further than this below the threshold is not read: furniture on both pages
#                        can pull a real copy's whole-text score 0.2 below its story score
BOILERPLATE_SAMPLE = 30  # most recent articles of a source read to learn the template it repeats
BOILERPLATE_MIN_ARTICLES = 2  # a shingle in this many other articles of the source is template, not story
SAME_SOURCE_MARGIN = 0.15  # two pages of one site share its template, which the sample may not show yet
#                            (a site's third daily brief); a site's real reposts are near-identical anyway
PG_WRITER_LOCK = 0x65787077  # advisory lock key ("expw") serialising dedup decisions on PostgreSQL


@dataclass(frozen=True)
class NearMatch:
    """The cluster a new article joins: its canonical article and the copy it resembles most."""

    canonical_id: int
    matched_id: int
    similarity: float  # Jaccard of the story texts (template set aside), new article vs matched_id


def story_id() -> ColumnElement[int]:
    """SQL expression naming an article's story: its canonical article's id (for GROUP BY / DISTINCT)."""
    return func.coalesce(Article.duplicate_of_id, Article.id)


def is_canonical() -> ColumnElement[bool]:
    """SQL condition true for the canonical (first-seen) article of each story."""
    return Article.duplicate_of_id.is_(None)


def serialise_writers(session: Session) -> None:
    """Make this transaction the only one deciding duplicates until it ends.

    SQLite writers already run one at a time (BEGIN IMMEDIATE). On PostgreSQL two crawl
    processes could each miss the other's uncommitted copy and open two clusters for one
    story; a transaction-scoped advisory lock prevents that.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sql_text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_WRITER_LOCK})


def _band_candidates_query():
    """One statement for every lookup (BANDS (band, hash) pairs as bound parameters), compiled once."""
    bands = MinhashBand.__table__.c  # Core columns: no ORM compile step on every lookup
    match = or_(*(and_(bands.band == band, bands.band_hash == bindparam(f"h{band}")) for band in range(BANDS)))
    shared = func.count().label("shared")
    return (select(bands.article_id, shared).where(match)
            .where(bands.article_id != bindparam("exclude_id"))
            .group_by(bands.article_id).order_by(shared.desc(), bands.article_id)
            .limit(bindparam("limit")))


_BAND_CANDIDATES = _band_candidates_query()


def band_candidates(session: Session, sig: Signature, *, exclude_id: int | None = None,
                    limit: int = CANDIDATE_LIMIT, bands: list[int] | None = None) -> list[int]:
    """Ids of articles sharing at least one LSH band with sig, most shared bands first.

    bands: band_hashes(sig), when the caller has them already.
    """
    bands = band_hashes(sig) if bands is None else bands
    if not bands:
        return []
    params = {f"h{band}": value for band, value in enumerate(bands)}
    params.update(exclude_id=-1 if exclude_id is None else exclude_id, limit=limit)
    return list(session.execute(_BAND_CANDIDATES, params).scalars())


def find_near_duplicate(session: Session, *, sig: Signature, text: str, title: str | None, source_id: int,
                        threshold: float = DEFAULT_THRESHOLD, exclude_id: int | None = None,
                        bands: list[int] | None = None) -> NearMatch | None:
    """The cluster an article (its signature, text, title and source) belongs to, or None.

    Candidates come from the band rows; a candidate is confirmed when the Jaccard
    similarity of the two texts, without the shingles either source repeats across
    its other articles, reaches threshold (SAME_SOURCE_MARGIN more for two articles
    of one source), and the titles' numbers do not conflict (with the candidate and
    with its cluster's canonical article). The most similar confirmed candidate wins.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"near-duplicate threshold must be in (0, 1], got {threshold}")
    ids = band_candidates(session, sig, exclude_id=exclude_id, bands=bands)
    if not ids:
        return None
    rows = session.execute(
        select(Article.id, Article.duplicate_of_id, Article.source_id, Article.title, Article.minhash)
        .where(Article.id.in_(ids))
    ).all()
    likely = [r for r in rows
              if r.minhash is not None
              and estimate_jaccard(sig, Signature.from_bytes(r.minhash)) >= threshold - ESTIMATE_MARGIN
              and not titles_conflict(title, r.title)]
    if not likely:
        return None
    mine = _hashed(shingles(text))
    templates = _SourceTemplates(session, exclude_id)
    best: NearMatch | None = None
    for row in likely:
        canonical_id = row.duplicate_of_id or row.id
        if canonical_id != row.id and titles_conflict(title, _title_of(session, canonical_id)):
            continue
        template = np.union1d(templates.of(source_id, canonical_id), templates.of(row.source_id, canonical_id))
        story_mine = np.setdiff1d(mine, template, assume_unique=True)
        story_theirs = np.setdiff1d(_article_shingles(session, [row.id])[row.id], template, assume_unique=True)
        if not len(story_mine) or not len(story_theirs):
            continue  # one side is nothing but template: no story to compare
        shared = len(np.intersect1d(story_mine, story_theirs, assume_unique=True))
        similarity = shared / (len(story_mine) + len(story_theirs) - shared)
        needed = min(threshold + SAME_SOURCE_MARGIN, 1.0) if row.source_id == source_id else threshold
        if similarity >= needed and (best is None or similarity > best.similarity):
            best = NearMatch(canonical_id=canonical_id, matched_id=row.id, similarity=round(similarity, 4))
    return best


def _title_of(session: Session, article_id: int) -> str | None:
    return session.execute(select(Article.title).where(Article.id == article_id)).scalar_one()


def _hashed(shingle_set: frozenset[str]) -> np.ndarray:
    """A shingle set as a sorted array of (process-local) 64-bit hashes: set algebra in numpy."""
    return np.unique(np.fromiter((hash(s) for s in shingle_set), dtype=np.int64, count=len(shingle_set)))


# Shingles of stored articles, per process: a source's template is re-learnt from its recent
# articles for every copy confirmed, and most of those articles were read for the last one too.
# An entry is used only while the article's content hash is unchanged (re-extraction, a store
# recreated at the same URL), and the cache is shared by the threads of a process.
_SHINGLE_CACHE: OrderedDict[tuple[str, int], tuple[str, np.ndarray]] = OrderedDict()
_SHINGLE_CACHE_LOCK = threading.Lock()
SHINGLE_CACHE_ARTICLES = 4096  # about 13 MB of hashes: the recent articles of ~100 sources


def _article_shingles(session: Session, ids: list[int]) -> dict[int, np.ndarray]:
    """Hashed shingles of stored articles, from the per-process cache or read and shingled now."""
    store = session.get_bind().url.render_as_string(hide_password=True)
    hashes = dict(session.execute(select(Article.id, Article.content_hash).where(Article.id.in_(ids))).all())
    found: dict[int, np.ndarray] = {}
    with _SHINGLE_CACHE_LOCK:
        for article_id, digest in hashes.items():
            cached = _SHINGLE_CACHE.get((store, article_id))
            if cached is not None and cached[0] == digest:
                _SHINGLE_CACHE.move_to_end((store, article_id))
                found[article_id] = cached[1]
    missing = [i for i in hashes if i not in found]
    if missing:
        read = session.execute(select(Article.id, Article.content_hash, Article.text).where(Article.id.in_(missing)))
        fresh = {article_id: (digest, _hashed(shingles(body))) for article_id, digest, body in read}
        with _SHINGLE_CACHE_LOCK:
            for article_id, entry in fresh.items():
                _SHINGLE_CACHE[(store, article_id)] = entry
                found[article_id] = entry[1]
            while len(_SHINGLE_CACHE) > SHINGLE_CACHE_ARTICLES:
                _SHINGLE_CACHE.popitem(last=False)
    return found


class _SourceTemplates:
    """The shingles a source repeats across its recent articles (its template), learnt on demand."""

    def __init__(self, session: Session, exclude_id: int | None):
        self.session = session
        self.exclude_id = -1 if exclude_id is None else exclude_id
        self.learnt: dict[tuple[int, int], np.ndarray] = {}

    def of(self, source_id: int, canonical_id: int) -> np.ndarray:
        """Template of source_id, learnt from its recent articles outside the story of canonical_id."""
        key = (source_id, canonical_id)
        if key not in self.learnt:
            recent = self.session.execute(
                select(Article.id, story_id()).where(Article.source_id == source_id)
                .where(Article.id != self.exclude_id).order_by(Article.id.desc()).limit(BOILERPLATE_SAMPLE)
            ).all()
            ids = [article_id for article_id, story in recent if story != canonical_id]
            sets = list(_article_shingles(self.session, ids).values())
            if sets:
                values, counts = np.unique(np.concatenate(sets), return_counts=True)
                self.learnt[key] = values[counts >= BOILERPLATE_MIN_ARTICLES]
            else:
                self.learnt[key] = np.empty(0, dtype=np.int64)
        return self.learnt[key]


# -- queries for show / search -------------------------------------------------------------


@dataclass(frozen=True)
class Copy:
    """One place a story appeared: a URL, its source, when it was first seen, how similar."""

    article_id: int  # the articles row holding this copy's text (the canonical one for exact copies)
    url: str
    source: str
    relation: str  # original | alias | exact_copy | near_copy
    first_seen_at: datetime
    similarity: float | None  # 1.0 for the canonical and exact copies; Jaccard for near copies


def canonical_id_of(session: Session, article_id: int) -> int | None:
    """The canonical article of article_id's story (itself if it is canonical); None if unknown."""
    row = session.execute(select(Article.id, Article.duplicate_of_id).where(Article.id == article_id)).first()
    return None if row is None else (row.duplicate_of_id or row.id)


def copies_of(session: Session, article_id: int) -> list[Copy]:
    """Every URL the story of article_id was seen at, canonical article first, then by first-seen time.

    A near copy's own URL has relation near_copy; URLs it was also reached at stay alias.
    """
    canonical = canonical_id_of(session, article_id)
    if canonical is None:
        return []
    members = or_(Article.id == canonical, Article.duplicate_of_id == canonical)
    rows = session.execute(
        select(Article.id, Article.duplicate_of_id, Article.similarity, Article.canonical_url,
               ArticleUrl.url, ArticleUrl.relation, ArticleUrl.first_seen_at, SourceRow.name)
        .join(ArticleUrl, ArticleUrl.article_id == Article.id)
        .join(SourceRow, SourceRow.id == ArticleUrl.source_id)
        .where(members)
    ).all()
    copies = []
    for r in rows:
        relation = r.relation
        similarity = 1.0 if relation in ("original", "exact_copy") else None
        if r.duplicate_of_id is not None and r.url == r.canonical_url:
            relation, similarity = "near_copy", r.similarity
        copies.append(Copy(article_id=r.id, url=r.url, source=r.name, relation=relation,
                           first_seen_at=r.first_seen_at, similarity=similarity))
    copies.sort(key=lambda c: (c.article_id != canonical or c.relation != "original",
                               c.first_seen_at, c.article_id, c.url))
    return copies


def copy_counts(session: Session, article_ids: Iterable[int]) -> dict[int, int]:
    """For each article id, how many other places (near and exact copies) its story appeared at."""
    ids = list(dict.fromkeys(article_ids))
    if not ids:
        return {}
    stories = dict(session.execute(select(Article.id, story_id()).where(Article.id.in_(ids))).all())
    canonical = set(stories.values())
    places = dict(session.execute(
        select(story_id(), func.count())
        .join(ArticleUrl, ArticleUrl.article_id == Article.id)
        .where(or_(Article.id.in_(canonical), Article.duplicate_of_id.in_(canonical)))
        .where(ArticleUrl.relation != "alias")
        .group_by(story_id())
    ).all())
    return {i: max(places.get(stories[i], 1) - 1, 0) for i in ids if i in stories}
