"""full-text search over article title and text

SQLite: an FTS5 table `articles_fts` with the trigram tokenizer (substring matching
that works for Chinese, which has no spaces between words), an external-content
index of `articles` kept in sync by triggers. It follows sqlite-utils' conventions
(`<table>_fts`, `content=[<table>]`), so Datasette and `sqlite-utils search` find it.

PostgreSQL: the same substring semantics from pg_trgm GIN indexes on title and text,
which serve `ILIKE '%term%'`.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SQLITE_UPGRADE = (
    """
    CREATE VIRTUAL TABLE articles_fts USING fts5(
        title, text, content=[articles], content_rowid=id, tokenize='trigram'
    )
    """,
    # An external-content FTS5 table must be told the old values to delete them.
    """
    CREATE TRIGGER articles_ai AFTER INSERT ON articles BEGIN
        INSERT INTO articles_fts (rowid, title, text) VALUES (new.id, new.title, new.text);
    END
    """,
    """
    CREATE TRIGGER articles_ad AFTER DELETE ON articles BEGIN
        INSERT INTO articles_fts (articles_fts, rowid, title, text)
        VALUES ('delete', old.id, old.title, old.text);
    END
    """,
    # Only a change of the indexed columns re-indexes (not last_seen_at, duplicate_of_id ...).
    """
    CREATE TRIGGER articles_au AFTER UPDATE OF title, text ON articles BEGIN
        INSERT INTO articles_fts (articles_fts, rowid, title, text)
        VALUES ('delete', old.id, old.title, old.text);
        INSERT INTO articles_fts (rowid, title, text) VALUES (new.id, new.title, new.text);
    END
    """,
    "INSERT INTO articles_fts (articles_fts) VALUES ('rebuild')",
)
SQLITE_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS articles_au",
    "DROP TRIGGER IF EXISTS articles_ad",
    "DROP TRIGGER IF EXISTS articles_ai",
    "DROP TABLE IF EXISTS articles_fts",
)

POSTGRESQL_UPGRADE = (
    # pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it.
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_articles_title_trgm ON articles USING gin (title gin_trgm_ops)",
    "CREATE INDEX ix_articles_text_trgm ON articles USING gin (text gin_trgm_ops)",
)
POSTGRESQL_DOWNGRADE = (
    "DROP INDEX IF EXISTS ix_articles_text_trgm",
    "DROP INDEX IF EXISTS ix_articles_title_trgm",
)


def _run(statements: dict[str, tuple[str, ...]]) -> None:
    dialect = op.get_bind().dialect.name
    if dialect not in statements:
        raise NotImplementedError(f"full-text search migration: unsupported database {dialect!r}")
    for statement in statements[dialect]:
        op.execute(statement)


def upgrade() -> None:
    _run({"sqlite": SQLITE_UPGRADE, "postgresql": POSTGRESQL_UPGRADE})


def downgrade() -> None:
    _run({"sqlite": SQLITE_DOWNGRADE, "postgresql": POSTGRESQL_DOWNGRADE})
