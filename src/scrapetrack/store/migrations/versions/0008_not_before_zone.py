"""scraping_jobs.not_before keeps its time zone, like every other time column (revision 0004
made it a plain timestamp: on PostgreSQL the server's zone then read into it)

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return  # SQLite keeps the text the column type writes: nothing to change
    op.alter_column('scraping_jobs', 'not_before', type_=sa.DateTime(timezone=True),
                    existing_nullable=True, postgresql_using="not_before AT TIME ZONE 'UTC'")


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.alter_column('scraping_jobs', 'not_before', type_=sa.DateTime(),
                    existing_nullable=True, postgresql_using="not_before AT TIME ZONE 'UTC'")
