"""QStash deliveries already handled, so a replayed one is acknowledged without running

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'qstash_deliveries',
        sa.Column('key', sa.String(length=100), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_qstash_deliveries')))
    op.create_index(op.f('ix_qstash_deliveries_expires_at'), 'qstash_deliveries',
                    ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_qstash_deliveries_expires_at'), table_name='qstash_deliveries')
    op.drop_table('qstash_deliveries')
