"""Alembic environment: one transaction for the whole upgrade, serialised by a transaction-level advisory lock.

A transaction-scoped lock (not a session lock) keeps this safe behind PgBouncer in transaction mode, and lets
several instances start at once without racing each other's DDL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text
from sqlmodel import SQLModel

from backend.db import models  # noqa: F401 - registers the tables on the metadata
from backend.db.urls import normalize_database_url

MIGRATION_LOCK_KEY = 0x70D0A11  # arbitrary, constant: "todo-api migrations"

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    url = normalize_database_url(config.get_main_option("sqlalchemy.url") or "")
    engine = create_engine(url, poolclass=pool.NullPool, connect_args={"prepare_threshold": None})
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            context.run_migrations()
    engine.dispose()


run_migrations_online()
