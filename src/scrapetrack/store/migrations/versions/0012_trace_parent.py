"""trace_parent: the W3C traceparent of the request that created a job, so the worker that
runs it continues that request's trace (docs/tracing.md).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scraping_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('trace_parent', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('scraping_jobs', schema=None) as batch_op:
        batch_op.drop_column('trace_parent')
