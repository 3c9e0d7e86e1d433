"""Alembic environment: the metadata of every package's models, one migration history."""

import importlib

from alembic import context
from sqlalchemy import engine_from_config, pool

from core.db import Base
from core.migrate import MODEL_MODULES

# The models register their tables on the shared metadata when imported (needed by `alembic revision
# --autogenerate`); named here, not imported at the top, so that core imports nothing above it.
for name in MODEL_MODULES:
    importlib.import_module(name)

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
