"""Alembic environment: always run against the connection handed in by `server.store.db.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from server.store.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "run migrations through server.store.db.migrate(), which passes a connection"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things in place; batch mode rebuilds tables when a migration needs it.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
