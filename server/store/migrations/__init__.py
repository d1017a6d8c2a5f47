"""Alembic migrations shipped inside the package and applied by `server.store.db.migrate`."""
