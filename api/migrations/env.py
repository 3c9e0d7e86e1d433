"""Alembic environment: the metadata of every package's models, one migration history."""
from alembic import context
from sqlalchemy import engine_from_config, pool

import kb_ingest.models  # noqa: F401  (registers tables on the shared metadata)
import tickets.models  # noqa: F401
import tickets.ops_models  # noqa: F401
from tickets.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
