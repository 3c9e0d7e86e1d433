"""email threading: every mail in or out by Message-ID, tied to its conversation

Revision ID: 0004
Revises: 0003

"""
from alembic import op
import sqlalchemy as sa
import core.db


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('email_records',
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
    sa.UniqueConstraint('message_id')
    )
    with op.batch_alter_table('email_records', schema=None) as batch_op:
        batch_op.create_index('ix_email_records_conversation', ['conversation_id', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('email_records', schema=None) as batch_op:
        batch_op.drop_index('ix_email_records_conversation')

    op.drop_table('email_records')
