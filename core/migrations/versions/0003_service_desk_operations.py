"""service desk operations: lines, groups, categories, escalations, SLA, time, notifications

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 23:31:18.267659
"""
from alembic import op
import sqlalchemy as sa
import core.db


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('holidays',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('day')
    )
    op.create_table('job_runs',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('last_run_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_key', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('skill_groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('slug')
    )
    op.create_table('sla_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=True),
    sa.Column('first_response_minutes', sa.Integer(), nullable=False),
    sa.Column('resolution_minutes', sa.Integer(), nullable=False),
    sa.Column('business_hours', sa.Boolean(), nullable=False),
    sa.Column('warn_ratio', sa.Double(), nullable=False),
    sa.Column('auto_escalate', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('priority', 'category', name='uq_sla_policies')
    )
    op.create_table('agent_groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['skill_groups.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('agent_id', 'group_id', name='uq_agent_groups')
    )
    with op.batch_alter_table('agent_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_groups_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_agent_groups_group_id'), ['group_id'], unique=False)

    op.create_table('categories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('line', sa.String(length=4), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['skill_groups.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('slug')
    )
    op.create_table('notification_preferences',
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('escalations', sa.Boolean(), nullable=False),
    sa.Column('breaches', sa.Boolean(), nullable=False),
    sa.Column('status_changes', sa.Boolean(), nullable=False),
    sa.Column('daily_digest', sa.Boolean(), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('agent_id')
    )
    op.create_table('escalations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('from_line', sa.String(length=4), nullable=False),
    sa.Column('to_line', sa.String(length=4), nullable=False),
    sa.Column('from_group_id', sa.Integer(), nullable=True),
    sa.Column('to_group_id', sa.Integer(), nullable=True),
    sa.Column('from_agent_id', sa.Integer(), nullable=True),
    sa.Column('by', sa.String(length=200), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('returned_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('returned_by', sa.String(length=200), nullable=True),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['from_agent_id'], ['agents.id'], ),
    sa.ForeignKeyConstraint(['from_group_id'], ['skill_groups.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['to_group_id'], ['skill_groups.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalations_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('external_refs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('system', sa.String(length=100), nullable=False),
    sa.Column('ref', sa.String(length=200), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('external_refs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_external_refs_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ticket_participants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('added_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ticket_id', 'agent_id', name='uq_ticket_participants')
    )
    with op.batch_alter_table('ticket_participants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_participants_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('time_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('line', sa.String(length=4), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=True),
    sa.Column('started_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('time_entries', schema=None) as batch_op:
        batch_op.create_index('ix_time_entries_agent', ['agent_id', 'started_at'], unique=False)
        batch_op.create_index('ix_time_entries_ticket', ['ticket_id'], unique=False)

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agent_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('payload', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.create_foreign_key('fk_outbox_agent_id', 'agents', ['agent_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('group_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('sla_policy_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('first_response_due_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('resolution_due_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sla_paused_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sla_paused_minutes', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('first_response_warned_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('resolution_warned_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('first_response_breached_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('resolution_breached_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_tickets_resolution_due', ['status', 'resolution_due_at'], unique=False)
        batch_op.create_foreign_key('fk_tickets_group_id', 'skill_groups', ['group_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key('fk_tickets_sla_policy_id', 'sla_policies', ['sla_policy_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_constraint('fk_tickets_sla_policy_id', type_='foreignkey')
        batch_op.drop_constraint('fk_tickets_group_id', type_='foreignkey')
        batch_op.drop_index('ix_tickets_resolution_due')
        batch_op.drop_column('resolution_breached_at')
        batch_op.drop_column('first_response_breached_at')
        batch_op.drop_column('resolution_warned_at')
        batch_op.drop_column('first_response_warned_at')
        batch_op.drop_column('sla_paused_minutes')
        batch_op.drop_column('sla_paused_at')
        batch_op.drop_column('resolution_due_at')
        batch_op.drop_column('first_response_due_at')
        batch_op.drop_column('sla_policy_id')
        batch_op.drop_column('group_id')
        batch_op.drop_column('category')

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint('fk_outbox_agent_id', type_='foreignkey')
        batch_op.drop_column('payload')
        batch_op.drop_column('agent_id')

    with op.batch_alter_table('time_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_time_entries_ticket')
        batch_op.drop_index('ix_time_entries_agent')

    op.drop_table('time_entries')
    with op.batch_alter_table('ticket_participants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_participants_ticket_id'))

    op.drop_table('ticket_participants')
    with op.batch_alter_table('external_refs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_external_refs_ticket_id'))

    op.drop_table('external_refs')
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalations_ticket_id'))

    op.drop_table('escalations')
    op.drop_table('notification_preferences')
    op.drop_table('categories')
    with op.batch_alter_table('agent_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_groups_group_id'))
        batch_op.drop_index(batch_op.f('ix_agent_groups_agent_id'))

    op.drop_table('agent_groups')
    op.drop_table('sla_policies')
    op.drop_table('skill_groups')
    op.drop_table('job_runs')
    op.drop_table('holidays')
