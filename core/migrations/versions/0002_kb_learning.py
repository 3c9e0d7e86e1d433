"""kb learning: helpfulness counts and origin on articles; origin and time on units (learned phrasings)

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import core.db


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('helped', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('not_helped', sa.Integer(), nullable=False, server_default='0'))
        batch_op.create_index('ix_articles_status', ['status'])
    with op.batch_alter_table('article_units', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('article_units', schema=None) as batch_op:
        batch_op.drop_column('created_at')
        batch_op.drop_column('origin')
    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.drop_index('ix_articles_status')
        batch_op.drop_column('not_helped')
        batch_op.drop_column('helped')
        batch_op.drop_column('origin')
