"""Alembic environment: runs on the connection handed over by builder.store.db."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import builder.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only via builder.store.db
    raise RuntimeError("run migrations through builder.store.db.Database.migrate()")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
