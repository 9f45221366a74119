"""workspaces: every campaign in one, every user with a personal one and a role in each of
theirs; invitations, an audit trail, tokens limited to a workspace. A campaign's creator and
a job's starter are kept when they leave (SET NULL), so a team's work outlives an account.

Existing users get a personal workspace whose id is their own, holding their campaigns.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'workspaces',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('personal_of', sa.String(length=36), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['personal_of'], ['users.id'],
                                name=op.f('fk_workspaces_personal_of_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_workspaces')),
        sa.UniqueConstraint('personal_of', name=op.f('uq_workspaces_personal_of')))
    op.create_table(
        'workspace_members',
        sa.Column('workspace_id', sa.String(length=36), nullable=False),
        sa.Column('user_id', sa.String(length=36), nullable=False),
        sa.Column('role', sa.String(length=8), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'],
                                name=op.f('fk_workspace_members_workspace_id_workspaces'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_workspace_members_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('workspace_id', 'user_id', name=op.f('pk_workspace_members')))
    op.create_index(op.f('ix_workspace_members_user_id'), 'workspace_members', ['user_id'])
    op.create_table(
        'invitations',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('workspace_id', sa.String(length=36), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('role', sa.String(length=8), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('invited_by', sa.String(length=36), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('accepted_by', sa.String(length=36), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'],
                                name=op.f('fk_invitations_workspace_id_workspaces'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['invited_by'], ['users.id'],
                                name=op.f('fk_invitations_invited_by_users'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['accepted_by'], ['users.id'],
                                name=op.f('fk_invitations_accepted_by_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
        sa.UniqueConstraint('code_hash', name=op.f('uq_invitations_code_hash')))
    op.create_index(op.f('ix_invitations_workspace_id'), 'invitations', ['workspace_id'])
    op.create_table(
        'audit_events',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('workspace_id', sa.String(length=36), nullable=False),
        sa.Column('actor_id', sa.String(length=36), nullable=True),
        sa.Column('actor_email', sa.String(length=320), nullable=True),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('target', sa.String(length=320), nullable=True),
        sa.Column('detail', sa.JSON(none_as_null=True), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'],
                                name=op.f('fk_audit_events_workspace_id_workspaces'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')))
    op.create_index('ix_audit_events_workspace_id_id', 'audit_events', ['workspace_id', 'id'])

    op.execute("INSERT INTO workspaces (id, name, personal_of, created_at) "
               "SELECT id, 'Personal', id, created_at FROM users")
    op.execute("INSERT INTO workspace_members (workspace_id, user_id, role, created_at) "
               "SELECT id, id, 'owner', created_at FROM users")

    with op.batch_alter_table('campaigns') as batch_op:
        batch_op.add_column(sa.Column('workspace_id', sa.String(length=36), nullable=True))
    op.execute("UPDATE campaigns SET workspace_id = user_id")
    with op.batch_alter_table('campaigns') as batch_op:
        batch_op.alter_column('workspace_id', existing_type=sa.String(length=36),
                              nullable=False)
        batch_op.create_index(batch_op.f('ix_campaigns_workspace_id'), ['workspace_id'])
        batch_op.create_foreign_key(batch_op.f('fk_campaigns_workspace_id_workspaces'),
                                    'workspaces', ['workspace_id'], ['id'], ondelete='CASCADE')
        _set_null_on_delete(batch_op, 'campaigns')

    with op.batch_alter_table('scraping_jobs') as batch_op:
        batch_op.add_column(sa.Column('workspace_id', sa.String(length=36), nullable=True))
    op.execute("UPDATE scraping_jobs SET workspace_id = (SELECT c.workspace_id FROM campaigns c "
               "WHERE c.id = scraping_jobs.campaign_id)")
    with op.batch_alter_table('scraping_jobs') as batch_op:
        batch_op.alter_column('workspace_id', existing_type=sa.String(length=36),
                              nullable=False)
        batch_op.create_index(batch_op.f('ix_scraping_jobs_workspace_id'), ['workspace_id'])
        _set_null_on_delete(batch_op, 'scraping_jobs')

    with op.batch_alter_table('api_tokens') as batch_op:
        batch_op.add_column(sa.Column('workspace_id', sa.String(length=36), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_api_tokens_workspace_id_workspaces'),
                                    'workspaces', ['workspace_id'], ['id'], ondelete='CASCADE')


def _set_null_on_delete(batch_op: BatchOperations, table: str) -> None:
    """The creator or starter kept when their account goes."""
    batch_op.drop_constraint(f'fk_{table}_user_id_users', type_='foreignkey')
    batch_op.alter_column('user_id', existing_type=sa.String(length=36), nullable=True)
    batch_op.create_foreign_key(f'fk_{table}_user_id_users', 'users', ['user_id'], ['id'],
                                ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch_op:
        batch_op.drop_constraint('fk_api_tokens_workspace_id_workspaces', type_='foreignkey')
        batch_op.drop_column('workspace_id')
    for table in ('scraping_jobs', 'campaigns'):
        op.execute(f"DELETE FROM {table} WHERE user_id IS NULL")
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(f'fk_{table}_user_id_users', type_='foreignkey')
            batch_op.alter_column('user_id', existing_type=sa.String(length=36),
                                  nullable=False)
            batch_op.create_foreign_key(f'fk_{table}_user_id_users', 'users', ['user_id'],
                                        ['id'], ondelete='CASCADE')
            if table == 'campaigns':
                batch_op.drop_constraint('fk_campaigns_workspace_id_workspaces',
                                         type_='foreignkey')
            batch_op.drop_index(f'ix_{table}_workspace_id')
            batch_op.drop_column('workspace_id')
    for table in ('audit_events', 'invitations', 'workspace_members', 'workspaces'):
        op.drop_table(table)
