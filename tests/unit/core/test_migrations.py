"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL: a model change without a
migration (or a migration that drifts from the models) fails here, not in a customer's upgrade."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import tickets.email_models  # noqa: F401  (registers its tables on Base.metadata)
import tickets.models  # noqa: F401
from core.db import Base


def test_migrated_schema_matches_the_models(sessions):
    engine = sessions.kw["bind"]
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], "\n".join(map(str, diff))


def test_per_sender_redelivery_constraint_is_in_the_database(sessions):
    engine = sessions.kw["bind"]
    uniques = {tuple(u["column_names"]) for u in inspect(engine).get_unique_constraints("messages")}
    indexes = {tuple(i["column_names"]) for i in inspect(engine).get_indexes("messages") if i.get("unique")}
    assert ("channel", "sender_ref", "platform_msg_id") in uniques | indexes
    assert ("channel", "platform_msg_id") not in uniques | indexes  # never global across senders again


def test_existing_conversations_get_a_person_and_nothing_is_lost(db_url):
    """Upgrading a desk that has conversations and tickets from before people existed: every conversation gets a
    person (the directory's, when its identity was imported first; else a provisional one per sender), tickets
    follow their conversation, and no row goes missing."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from core.migrate import alembic_config

    command.upgrade(alembic_config(db_url), "0007")
    engine = create_engine(db_url)
    now = "2026-01-05 10:00:00+00:00"
    with engine.begin() as c:
        alice = c.execute(
            text(
                "INSERT INTO people (name, email, department, vip, active, provisional, created_at, updated_at)"
                " VALUES ('Alice Ivanova', 'alice@acme.example', 'Sales', false, true, false, :now, :now)"
                " RETURNING id"
            ),
            {"now": now},
        ).scalar_one()
        c.execute(
            text(
                "INSERT INTO person_identities (person_id, kind, ref, source, created_at)"
                " VALUES (:p, 'telegram', '111', 'directory', :now)"
            ),
            {"now": now, "p": alice},
        )
        rows = [
            (1, "telegram", "111", "Alice"),
            (2, "web", "web-abc", None),
            (3, "web", "web-abc", None),
            (4, "email", "bob@acme.example", "Bob"),
            (5, "sms", "+15550001", None),
            (6, "phone", "Caller Without Number", "Caller Without Number"),
        ]
        for cid, channel, ref, name in rows:
            c.execute(
                text(
                    "INSERT INTO conversations (id, channel, user_ref, thread_ref, user_name, lang, state, offered,"
                    " choices, created_at, updated_at, closed_at) VALUES (:id, :ch, :ref, '', :name, 'en', 'bot',"
                    " '[]', '[]', :now, :now, :now)"
                ),
                {"id": cid, "ch": channel, "ref": ref, "name": name, "now": now},
            )
        for tid, cid in ((10, 1), (11, 4)):
            c.execute(
                text(
                    "INSERT INTO tickets (id, conversation_id, requester, channel, subject, question, status,"
                    " priority, line, handoff_reason, bot_tried, linked_articles, sla_paused_minutes, created_at,"
                    " updated_at) VALUES (:id, :cid, 'x', 'web', 's', 'q', 'new', 'normal', 'L1', 'user_request',"
                    " '[]', '[]', 0, :now, :now)"
                ),
                {"id": tid, "cid": cid, "now": now},
            )
    command.upgrade(alembic_config(db_url), "head")
    with engine.connect() as c:
        person_of = dict(c.execute(text("SELECT id, person_id FROM conversations")).all())
        assert len(person_of) == 6 and None not in person_of.values()
        assert person_of[1] == alice  # the imported Telegram user is the directory's Alice
        assert person_of[2] == person_of[3] != alice  # one web sender, one provisional person
        assert len(set(person_of.values())) == 5
        provisional = dict(c.execute(text("SELECT id, provisional FROM people")).all())
        assert provisional[alice] in (False, 0) and all(provisional[p] for p in set(person_of.values()) - {alice})
        assert c.execute(text("SELECT email FROM people WHERE id = :p"), {"p": person_of[4]}).scalar() == (
            "bob@acme.example"
        )
        assert dict(c.execute(text("SELECT id, person_id FROM tickets")).all()) == {10: alice, 11: person_of[4]}
        kinds = set(c.execute(text("SELECT kind, ref FROM person_identities")).all())
        assert {("web", "web-abc"), ("email", "bob@acme.example"), ("phone", "+15550001")} <= kinds
        assert not [k for k in kinds if "Caller" in k[1]]  # a name is no phone identity
    engine.dispose()
