"""the process behind a run, and the extractor behind a skip

crawl_runs.pid and crawl_runs.host: the crawl process that holds a running run, so `runs`
and `health` can tell a run whose process is gone (killed, OOM) from one still at work.
skipped_pages.extractor_version: the extractor that judged the page; a skip made by an
older extractor is not final, and the page is fetched and judged again (NULL: before 0003).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crawl_runs") as batch:
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("host", sa.String(length=255), nullable=True))
    with op.batch_alter_table("skipped_pages") as batch:
        batch.add_column(sa.Column("extractor_version", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("skipped_pages") as batch:
        batch.drop_column("extractor_version")
    with op.batch_alter_table("crawl_runs") as batch:
        batch.drop_column("host")
        batch.drop_column("pid")
