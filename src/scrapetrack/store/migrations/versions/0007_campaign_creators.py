"""one creator list per campaign: its creators across all its searches, which searches found
each, and the team's status, note and tags; finished searches indexed by when, for retention

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# Creators found before this revision join their campaigns' lists: each with its newest row's
# numbers, first seen when its first row was found.
BACKFILL = """
INSERT INTO campaign_creators (campaign_id, platform, handle_key, handle, display_name,
    followers, engagement_rate, bio, profile_url, avatar_url, verified, similarity_score,
    status, first_seen_at, last_seen_at)
SELECT j.campaign_id, c.platform, c.handle_key, c.handle, c.display_name, c.followers,
    CASE WHEN c.engagement_samples > 0 THEN c.engagement_sum / c.engagement_samples END,
    c.bio, c.profile_url, c.avatar_url, c.verified, c.similarity_score, 'new',
    (SELECT min(f.created_at) FROM creators f JOIN scraping_jobs fj ON fj.id = f.job_id
     WHERE fj.campaign_id = j.campaign_id AND f.platform = c.platform
       AND f.handle_key = c.handle_key),
    c.created_at
FROM creators c JOIN scraping_jobs j ON j.id = c.job_id
WHERE c.id = (SELECT max(n.id) FROM creators n JOIN scraping_jobs nj ON nj.id = n.job_id
              WHERE nj.campaign_id = j.campaign_id AND n.platform = c.platform
                AND n.handle_key = c.handle_key)
"""
BACKFILL_FOUND_BY = """
INSERT INTO campaign_creator_jobs (creator_id, job_id)
SELECT cc.id, c.job_id
FROM creators c JOIN scraping_jobs j ON j.id = c.job_id
JOIN campaign_creators cc ON cc.campaign_id = j.campaign_id AND cc.platform = c.platform
    AND cc.handle_key = c.handle_key
"""


def upgrade() -> None:
    op.create_table(
        'campaign_creators',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('campaign_id', sa.String(length=36), nullable=False),
        sa.Column('platform', sa.String(length=20), nullable=False),
        sa.Column('handle_key', sa.String(length=200), nullable=False),
        sa.Column('handle', sa.String(length=200), nullable=False),
        sa.Column('display_name', sa.Text(), nullable=True),
        sa.Column('followers', sa.BigInteger(), nullable=True),
        sa.Column('engagement_rate', sa.Float(), nullable=True),
        sa.Column('bio', sa.Text(), nullable=True),
        sa.Column('profile_url', sa.Text(), nullable=True),
        sa.Column('avatar_url', sa.Text(), nullable=True),
        sa.Column('verified', sa.Boolean(), nullable=False),
        sa.Column('similarity_score', sa.Float(), nullable=True),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'],
                                name=op.f('fk_campaign_creators_campaign_id_campaigns'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_creators')),
        sa.UniqueConstraint('campaign_id', 'platform', 'handle_key',
                            name=op.f('uq_campaign_creators_campaign_id_platform_handle_key')))
    op.create_table(
        'campaign_creator_jobs',
        sa.Column('creator_id', sa.Integer(), nullable=False),
        sa.Column('job_id', sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ['creator_id'], ['campaign_creators.id'],
            name=op.f('fk_campaign_creator_jobs_creator_id_campaign_creators'),
            ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['job_id'], ['scraping_jobs.id'],
                                name=op.f('fk_campaign_creator_jobs_job_id_scraping_jobs'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('creator_id', 'job_id', name=op.f('pk_campaign_creator_jobs')))
    op.create_index(op.f('ix_campaign_creator_jobs_job_id'), 'campaign_creator_jobs',
                    ['job_id'], unique=False)
    op.create_table(
        'campaign_creator_tags',
        sa.Column('creator_id', sa.Integer(), nullable=False),
        sa.Column('tag', sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ['creator_id'], ['campaign_creators.id'],
            name=op.f('fk_campaign_creator_tags_creator_id_campaign_creators'),
            ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('creator_id', 'tag', name=op.f('pk_campaign_creator_tags')))
    op.create_index(op.f('ix_campaign_creator_tags_tag'), 'campaign_creator_tags', ['tag'],
                    unique=False)
    op.execute(BACKFILL)
    op.execute(BACKFILL_FOUND_BY)
    op.create_index(op.f('ix_scraping_jobs_finished_at'), 'scraping_jobs', ['finished_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_scraping_jobs_finished_at'), table_name='scraping_jobs')
    op.drop_index(op.f('ix_campaign_creator_tags_tag'), table_name='campaign_creator_tags')
    op.drop_table('campaign_creator_tags')
    op.drop_index(op.f('ix_campaign_creator_jobs_job_id'), table_name='campaign_creator_jobs')
    op.drop_table('campaign_creator_jobs')
    op.drop_table('campaign_creators')
