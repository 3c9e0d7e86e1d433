"""integrity and access: redelivery scoped to the sender, server-side console sessions, web-chat identities,
the KB-editor permission

Revision ID: 0005
Revises: 0004

"""
from alembic import op
import sqlalchemy as sa
import core.db


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _email_records(unique_message_id: bool) -> sa.Table:
    """email_records as it is after (or, for the downgrade, before) this revision: SQLite's batch mode rebuilds the
    table from this, since 0004 created the unique constraint on message_id without a name."""
    uniques = [sa.UniqueConstraint('message_id')] if unique_message_id else \
        [sa.UniqueConstraint('peer', 'message_id', name='uq_email_records_peer_message')]
    return sa.Table(
        'email_records', sa.MetaData(),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.String(length=500), nullable=False),
        sa.Column('direction', sa.String(length=8), nullable=False),
        sa.Column('conversation_id', sa.Integer(), nullable=True),
        sa.Column('chat_message_id', sa.Integer(), nullable=True),
        sa.Column('mailbox', sa.String(length=320), nullable=False),
        sa.Column('peer', sa.String(length=320), nullable=False),
        sa.Column('subject', sa.String(length=998), nullable=False),
        sa.Column('refs', sa.Text(), nullable=False, server_default=''),
        sa.Column('reason', sa.String(length=200), nullable=True),
        sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['chat_message_id'], ['messages.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        *uniques,
        sa.Index('ix_email_records_conversation', 'conversation_id', 'id'),
    )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'

    # Messages: a platform id is unique per (channel, sender), no longer per channel.
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender_ref', sa.String(length=200), nullable=False, server_default=''))
    op.execute("UPDATE messages SET sender_ref = (SELECT c.user_ref FROM conversations c "
               "WHERE c.id = messages.conversation_id) WHERE author = 'user'")
    op.execute("UPDATE messages SET sender_ref = 'agent:' || CAST(agent_id AS VARCHAR(20)) "
               "WHERE author = 'agent' AND agent_id IS NOT NULL")
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint('uq_messages_platform_id', type_='unique')
        batch_op.create_unique_constraint('uq_messages_sender_platform_id',
                                          ['channel', 'sender_ref', 'platform_msg_id'])

    # Email records: a Message-ID is unique per sender.
    if sqlite:
        with op.batch_alter_table('email_records', copy_from=_email_records(unique_message_id=False),
                                  recreate='always') as batch_op:
            batch_op.create_index('ix_email_records_message_id', ['message_id'], unique=False)
    else:
        op.drop_constraint('email_records_message_id_key', 'email_records', type_='unique')
        op.create_unique_constraint('uq_email_records_peer_message', 'email_records', ['peer', 'message_id'])
        op.create_index('ix_email_records_message_id', 'email_records', ['message_id'], unique=False)

    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kb_editor', sa.Boolean(), nullable=False, server_default=sa.false()))

    op.create_table('console_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('client', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('secret_hash')
    )
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_console_sessions_agent', ['agent_id', 'revoked_at'], unique=False)

    op.create_table('chat_identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('user_ref', sa.String(length=200), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_from', sa.String(length=64), nullable=False),
    sa.Column('tokens_valid_after', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel', 'user_ref', name='uq_chat_identities_user')
    )
    # Every web-chat user seen so far keeps their identity. Their old tokens (which never expired) are not accepted:
    # the web chat then starts a fresh identity.
    op.execute("INSERT INTO chat_identities (channel, user_ref, created_at, created_from, tokens_valid_after) "
               "SELECT channel, user_ref, MIN(created_at), '', '1970-01-01 00:00:00+00:00' FROM conversations "
               "WHERE channel = 'web' GROUP BY channel, user_ref")


def downgrade() -> None:
    op.drop_table('chat_identities')
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_console_sessions_agent')
    op.drop_table('console_sessions')
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_column('kb_editor')
    if op.get_bind().dialect.name == 'sqlite':
        with op.batch_alter_table('email_records', copy_from=_email_records(unique_message_id=True),
                                  recreate='always') as batch_op:
            batch_op.drop_index('ix_email_records_message_id')
    else:
        op.drop_index('ix_email_records_message_id', 'email_records')
        op.drop_constraint('uq_email_records_peer_message', 'email_records', type_='unique')
        op.create_unique_constraint('email_records_message_id_key', 'email_records', ['message_id'])
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint('uq_messages_sender_platform_id', type_='unique')
        batch_op.create_unique_constraint('uq_messages_platform_id', ['channel', 'platform_msg_id'])
        batch_op.drop_column('sender_ref')
