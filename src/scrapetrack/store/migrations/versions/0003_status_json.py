"""jobs keep their rendered status JSON beside the version it renders

Revision ID: 0003
Revises: 0002

Rows from before this revision have none: readers render theirs until the job next changes.
A later change to the status view's shape clears status_version in a revision of its own.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scraping_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_json', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('status_version', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('scraping_jobs', schema=None) as batch_op:
        batch_op.drop_column('status_version')
        batch_op.drop_column('status_json')
