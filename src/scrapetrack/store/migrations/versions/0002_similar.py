"""similar-creators search: stage state on jobs, terms and similarity on creators

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scraping_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stage_state', sa.JSON(none_as_null=True), nullable=True))
    with op.batch_alter_table('creators', schema=None) as batch_op:
        batch_op.add_column(sa.Column('terms', sa.JSON(none_as_null=True), nullable=True))
        batch_op.add_column(sa.Column('similarity_score', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('similarity_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('creators', schema=None) as batch_op:
        batch_op.drop_column('similarity_reason')
        batch_op.drop_column('similarity_score')
        batch_op.drop_column('terms')
    with op.batch_alter_table('scraping_jobs', schema=None) as batch_op:
        batch_op.drop_column('stage_state')
