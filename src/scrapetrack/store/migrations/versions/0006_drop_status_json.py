"""jobs no longer keep their rendered status JSON: the web layer renders each version once
per process and remembers it (serializers.status_payload)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scraping_jobs', schema=None) as batch_op:
        batch_op.drop_column('status_version')
        batch_op.drop_column('status_json')


def downgrade() -> None:
    # Rows get their status JSON back as they next change; until then readers render them.
    with op.batch_alter_table('scraping_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_json', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('status_version', sa.Integer(), nullable=True))
