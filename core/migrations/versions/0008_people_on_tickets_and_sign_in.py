"""people on conversations and tickets, staff sign-in (SSO, passwords), organisation contracts

Every conversation that existed before gets a person: the one its (channel, user) identity already belongs to
(a directory import ran first), else a new provisional person per identity. Tickets take their conversation's
person. Nothing is dropped.

Revision ID: 0008
Revises: 0007
"""
import re
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
import core.db


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

KIND_OF_CHANNEL = {"web": "web", "telegram": "telegram", "slack": "slack", "email": "email", "sms": "phone",
                   "phone": "phone"}


def upgrade() -> None:
    op.create_table('link_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('ref', sa.String(length=320), nullable=False),
    sa.Column('expires_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code_hash')
    )
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('oidc_subject', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('password_hash', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('organisation_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint('uq_agents_oidc_subject', ['oidc_subject'])
        batch_op.create_unique_constraint('uq_agents_email', ['email'])
        batch_op.create_foreign_key('fk_agents_organisation', 'organisations', ['organisation_id'], ['id'],
                                    ondelete='SET NULL')

    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_conversations_person_id'), ['person_id'], unique=False)
        batch_op.create_foreign_key('fk_conversations_person', 'people', ['person_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_domains', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('business_hours', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('holidays', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('l1_group_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('vip', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_foreign_key('fk_organisations_l1_group', 'skill_groups', ['l1_group_id'], ['id'],
                                    ondelete='SET NULL')

    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_email', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('source', sa.String(length=32), server_default='message', nullable=False))

    with op.batch_alter_table('sla_policies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organisation_id', sa.Integer(), nullable=True))
        batch_op.drop_constraint('uq_sla_policies', type_='unique')
        batch_op.create_unique_constraint('uq_sla_policies', ['priority', 'category', 'organisation_id'])
        batch_op.create_foreign_key('fk_sla_policies_organisation', 'organisations', ['organisation_id'], ['id'],
                                    ondelete='CASCADE')

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('organisation_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_tickets_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_person_id'), ['person_id'], unique=False)
        batch_op.create_foreign_key('fk_tickets_organisation', 'organisations', ['organisation_id'], ['id'],
                                    ondelete='SET NULL')
        batch_op.create_foreign_key('fk_tickets_person', 'people', ['person_id'], ['id'], ondelete='SET NULL')

    _people_for_existing_conversations()


def _people_for_existing_conversations() -> None:
    bind = op.get_bind()
    meta = sa.MetaData()
    conversations = sa.Table('conversations', meta, autoload_with=bind)
    tickets = sa.Table('tickets', meta, autoload_with=bind)
    people = sa.Table('people', meta, autoload_with=bind)
    identities = sa.Table('person_identities', meta, autoload_with=bind)
    orgs = sa.Table('organisations', meta, autoload_with=bind)
    now = datetime.now(timezone.utc)
    senders = bind.execute(
        sa.select(conversations.c.channel, conversations.c.user_ref, sa.func.max(conversations.c.user_name))
        .group_by(conversations.c.channel, conversations.c.user_ref)
    ).all()
    for channel, user_ref, user_name in senders:
        kind = KIND_OF_CHANNEL.get(channel, channel)
        ref = user_ref.replace(" ", "").replace("(", "").replace(")", "").replace("-", "") if kind == "phone" \
            else user_ref
        # A phone call registered without a callback number carries the caller's name: no identity to give.
        no_identity = kind == "phone" and not re.fullmatch(r"\+?\d{5,20}", ref)
        person_id = None if no_identity else bind.scalar(
            sa.select(identities.c.person_id).where(identities.c.kind == kind, identities.c.ref == ref))
        if person_id is None:
            email = ref if kind == "email" else None
            if email is not None:  # a directory person with this address but no e-mail identity row
                person_id = bind.scalar(sa.select(people.c.id).where(people.c.email == email))
            if person_id is None:
                org_id = None
                if email and "@" in email:
                    domain = email.rsplit("@", 1)[1]
                    for oid, domains in bind.execute(sa.select(orgs.c.id, orgs.c.email_domains)).all():
                        if domain in [str(d).casefold() for d in domains or ()]:
                            org_id = oid
                person_id = bind.scalar(people.insert().values(
                    name=user_name or "", email=email, phone=ref if kind == "phone" and not no_identity else None,
                    department="",
                    organisation_id=org_id, vip=False, active=True, provisional=True, source="message",
                    created_at=now, updated_at=now,
                ).returning(people.c.id))
            if not no_identity:
                bind.execute(identities.insert().values(person_id=person_id, kind=kind, ref=ref, source="message",
                                                        created_at=now))
        bind.execute(conversations.update().where(conversations.c.channel == channel,
                                                  conversations.c.user_ref == user_ref).values(person_id=person_id))
    bind.execute(tickets.update().values(person_id=sa.select(conversations.c.person_id).where(
        conversations.c.id == tickets.c.conversation_id).scalar_subquery()))
    bind.execute(tickets.update().values(organisation_id=sa.select(people.c.organisation_id).where(
        people.c.id == tickets.c.person_id).scalar_subquery()))


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_constraint('fk_tickets_person', type_='foreignkey')
        batch_op.drop_constraint('fk_tickets_organisation', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_tickets_person_id'))
        batch_op.drop_index(batch_op.f('ix_tickets_organisation_id'))
        batch_op.drop_column('organisation_id')
        batch_op.drop_column('person_id')

    with op.batch_alter_table('sla_policies', schema=None) as batch_op:
        batch_op.drop_constraint('fk_sla_policies_organisation', type_='foreignkey')
        batch_op.drop_constraint('uq_sla_policies', type_='unique')
        batch_op.create_unique_constraint('uq_sla_policies', ['priority', 'category'])
        batch_op.drop_column('organisation_id')

    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_column('source')
        batch_op.drop_column('claimed_email')

    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_constraint('fk_organisations_l1_group', type_='foreignkey')
        batch_op.drop_column('vip')
        batch_op.drop_column('l1_group_id')
        batch_op.drop_column('holidays')
        batch_op.drop_column('business_hours')
        batch_op.drop_column('timezone')
        batch_op.drop_column('email_domains')

    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_constraint('fk_conversations_person', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_conversations_person_id'))
        batch_op.drop_column('person_id')

    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_constraint('fk_agents_organisation', type_='foreignkey')
        batch_op.drop_constraint('uq_agents_email', type_='unique')
        batch_op.drop_constraint('uq_agents_oidc_subject', type_='unique')
        batch_op.drop_column('organisation_id')
        batch_op.drop_column('password_hash')
        batch_op.drop_column('oidc_subject')
        batch_op.drop_column('email')

    op.drop_table('link_codes')
