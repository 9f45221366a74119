"""creators keep what outreach needs, where the actors give it: addresses found in the bio,
the bio link or website, country or region, language

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None
TABLES = ('creators', 'campaign_creators')


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('emails', sa.JSON(none_as_null=True), nullable=True))
            batch_op.add_column(sa.Column('external_url', sa.Text(), nullable=True))
            batch_op.add_column(sa.Column('country', sa.String(length=100), nullable=True))
            batch_op.add_column(sa.Column('language', sa.String(length=20), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in ('language', 'country', 'external_url', 'emails'):
                batch_op.drop_column(column)
