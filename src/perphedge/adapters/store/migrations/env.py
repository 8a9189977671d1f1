"""Alembic environment: migrates the connection or URL handed over by ``migrate.open_engine``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from perphedge.adapters.store.schema import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    """Run online: the store always has a live connection (SQLite file or PostgreSQL URL)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
