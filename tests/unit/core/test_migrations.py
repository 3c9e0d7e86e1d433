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
