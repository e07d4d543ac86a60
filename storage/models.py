"""SQLAlchemy 2 models of the article store.

Uniqueness lives here (canonical URL, content hash, seen URL), so inserts that
may repeat use insert-or-ignore and a crawl killed at any point can be rerun.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    """A datetime stored as naive UTC and read back as tz-aware UTC on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store takes tz-aware datetimes")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None else None


class Base(DeclarativeBase):
    """Declarative base; every datetime is stored in UTC."""

    type_annotation_map = {datetime: UTCDateTime}


class SourceRow(Base):
    """A source as seen by the store (the declaration itself lives in TOML/code)."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    homepage: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(8))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    first_seen_at: Mapped[datetime]


class Article(Base):
    """One story as first seen; near-duplicate copies point at it via duplicate_of_id."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    canonical_url: Mapped[str] = mapped_column(Text, unique=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    title: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None]
    published_raw: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None]
    updated_raw: Mapped[str | None] = mapped_column(Text)
    date_flag: Mapped[str | None] = mapped_column(String(32))
    published_precision: Mapped[str | None] = mapped_column(String(8))  # day | minute | second
    date_source: Mapped[str | None] = mapped_column(String(16))  # meta | jsonld | byline | url ...
    date_timezone: Mapped[str | None] = mapped_column(String(64))  # zone a naive page date was read in
    encoding: Mapped[str | None] = mapped_column(String(40))  # codec the page was decoded with
    language: Mapped[str | None] = mapped_column(String(8))
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    minhash: Mapped[bytes | None] = mapped_column(LargeBinary)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id"), index=True)
    similarity: Mapped[float | None] = mapped_column(Float)
    first_seen_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime]
    extractor_version: Mapped[str] = mapped_column(String(32))

    source: Mapped[SourceRow] = relationship()
    urls: Mapped[list[ArticleUrl]] = relationship(back_populates="article")
    events: Mapped[list[ArticleEvent]] = relationship(back_populates="article")

    __table_args__ = (
        Index("ix_articles_published_at", "published_at"),
        Index("ix_articles_source_id_id", "source_id", "id"),  # a source's recent articles (dedup templates)
    )


# Columns of articles the store fills itself. Every other column is a field of the extracted
# article (crawler.extract.extraction.ExtractedArticle) under the same name: the store inserts,
# re-extraction rewrites and export reads them by name, so a new field is a field there, a
# column here and a migration.
STORE_COLUMNS = frozenset({"id", "canonical_url", "source_id", "content_hash", "minhash",
                           "duplicate_of_id", "similarity", "first_seen_at", "last_seen_at"})
EXTRACTED_COLUMNS: tuple[str, ...] = tuple(c.key for c in Article.__table__.columns if c.key not in STORE_COLUMNS)


def extracted_values(article: object) -> dict[str, object]:
    """The extraction columns of an article, read by name from the extracted article."""
    return {name: getattr(article, name) for name in EXTRACTED_COLUMNS}


class ArticleUrl(Base):
    """Every URL an article was seen at, with the source: provenance and syndicated copies."""

    __tablename__ = "article_urls"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    relation: Mapped[str] = mapped_column(String(16))  # original | alias | exact_copy
    first_seen_at: Mapped[datetime]

    article: Mapped[Article] = relationship(back_populates="urls")
    source: Mapped[SourceRow] = relationship()


class SkippedPage(Base):
    """A page fetched and judged not to be an article (JS shell, soft 404, too short ...)."""

    __tablename__ = "skipped_pages"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    reason: Mapped[str] = mapped_column(String(32))
    first_seen_at: Mapped[datetime]
    # The extractor that judged the page (None for reasons that are not its verdict, and before 0003):
    # a skip by another extractor version is not final (storage.store.known_urls).
    extractor_version: Mapped[str | None] = mapped_column(String(32))


class RawPage(Base):
    """The compressed HTML an article was extracted from, for re-extraction."""

    __tablename__ = "raw_pages"

    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    http_charset: Mapped[str | None] = mapped_column(String(40))
    fetched_at: Mapped[datetime]
    html_zlib: Mapped[bytes] = mapped_column(LargeBinary)


class ArticleEvent(Base):
    """An event an article is about (primary) or mentions, with the evidence."""

    __tablename__ = "article_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))  # primary | mentioned
    edition: Mapped[int | None] = mapped_column(Integer)
    year: Mapped[int | None] = mapped_column(Integer)
    confidence: Mapped[float] = mapped_column(Float)
    evidence: Mapped[list] = mapped_column(JSON)
    tagger_version: Mapped[str] = mapped_column(String(32))

    article: Mapped[Article] = relationship(back_populates="events")

    # one row per event and year: an article may be about the 2019 edition and mention 2018's
    __table_args__ = (UniqueConstraint("article_id", "event", "year", name="uq_article_events_article_event_year"),)


class MinhashBand(Base):
    """One LSH band of an article's MinHash: the near-duplicate index, shared by all crawlers."""

    __tablename__ = "minhash_bands"

    band: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    band_hash: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)


class CrawlRun(Base):
    """One crawl of one source, recorded from Scrapy's stats."""

    __tablename__ = "crawl_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))  # running | ok | partial | failed | timeout
    pages_fetched: Mapped[int] = mapped_column(default=0)
    articles_new: Mapped[int] = mapped_column(default=0)
    articles_duplicate: Mapped[int] = mapped_column(default=0)
    articles_skipped: Mapped[int] = mapped_column(default=0)
    skip_reasons: Mapped[dict] = mapped_column(JSON, default=dict)
    errors: Mapped[list] = mapped_column(JSON, default=list)
    stats: Mapped[dict] = mapped_column(JSON, default=dict)
    message: Mapped[str | None] = mapped_column(Text)
    # The crawl process holding a running run: a run whose process is gone shows as interrupted.
    pid: Mapped[int | None]
    host: Mapped[str | None] = mapped_column(String(255))

    source: Mapped[SourceRow] = relationship()


class HttpCacheEntry(Base):
    """Validators of a discovery URL (feed, sitemap, list page) for conditional GET."""

    __tablename__ = "http_cache"

    url: Mapped[str] = mapped_column(Text, primary_key=True)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime]


class RobotsCacheEntry(Base):
    """A site's robots.txt as last fetched, reused by the next crawls until it expires."""

    __tablename__ = "robots_cache"

    origin: Mapped[str] = mapped_column(Text, primary_key=True)  # scheme://host[:port]
    status: Mapped[int] = mapped_column(SmallInteger)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class SavedQuery(Base):
    """When a named search last ran, for `expowatch search --new`."""

    __tablename__ = "saved_queries"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_run_at: Mapped[datetime]


class AlertRuleState(Base):
    """Where an alert rule has got to: the last article it matched, and its last digest.

    Matching is replayable: it reads articles after last_article_id, enters the matches
    in the outbox and advances the cursor in one transaction (see crawler/alerts/outbox.py).
    """

    __tablename__ = "alert_rules"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_article_id: Mapped[int] = mapped_column(BigInteger, default=0)
    last_digest_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class AlertDelivery(Base):
    """One message to one channel: an article, a digest or a health change (the alert outbox).

    status: pending (to send) | sent | failed (gave up after the rule file's max_tries) |
    waiting (an article for a digest rule, not yet in a digest) | digested (in digest digest_id).
    item is the rule's dedup key: story:<canonical article id>, digest:<slot>, health:<source>:<n>.
    """

    __tablename__ = "alert_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(64), unique=True)
    rule: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))  # a hash of the channel URL (the URL may hold a password)
    channel_label: Mapped[str] = mapped_column(Text)  # the URL with secrets hidden, for status
    item: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # article | digest | health
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id"))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16))
    tries: Mapped[int] = mapped_column(default=0)
    next_try_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("alert_outbox.id"))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("rule", "channel", "item", name="uq_alert_outbox_rule_channel_item"),
        Index("ix_alert_outbox_status_next_try_at", "status", "next_try_at"),
    )


class AlertHealthState(Base):
    """The last health a health rule reported for a source, so a change is told once."""

    __tablename__ = "alert_health"

    rule: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    changes: Mapped[int] = mapped_column(default=0)  # messages this rule has queued for this source
    changed_at: Mapped[datetime]
