"""Alembic environment: the URL and connection come from `scrapetrack.store.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from scrapetrack.store.models import Base

config = context.config


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `scrapetrack migrate`")
run(connection)
