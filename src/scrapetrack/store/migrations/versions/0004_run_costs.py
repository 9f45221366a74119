"""jobs keep what their Apify runs cost, their budget, the run's status message and page, and
when a job waiting for Apify capacity may be tried again; creators, whether their profile
was looked up

Revision ID: 0004
Revises: 0003

The job's status gains fields (apifyRunId, statusMessage, consoleUrl, costUsd, budgetUsd,
itemsRead), so every kept status JSON is stale: status_version is cleared, and readers
render each row until it next changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scraping_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('run_costs', sa.JSON(none_as_null=True), nullable=True))
        batch_op.add_column(sa.Column('cost_usd', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('budget_usd', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('run_status_message', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('console_url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('not_before', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('holds_run', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('creators', schema=None) as batch_op:
        batch_op.add_column(sa.Column('profile_lookup', sa.String(length=8), nullable=True))
    op.execute("UPDATE scraping_jobs SET status_version = NULL")


def downgrade() -> None:
    with op.batch_alter_table('creators', schema=None) as batch_op:
        batch_op.drop_column('profile_lookup')
    with op.batch_alter_table('scraping_jobs', schema=None) as batch_op:
        for column in ('holds_run', 'not_before', 'console_url', 'run_status_message', 'budget_usd', 'cost_usd',
                       'run_costs'):
            batch_op.drop_column(column)
