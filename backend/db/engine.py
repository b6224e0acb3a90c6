"""The SQLAlchemy engine on psycopg 3 (migrations, tooling), and the connection arguments it shares with the request
path's pool (`backend/db/pool.py`): timeouts, keepalives and prepared statements shaped for Neon and PgBouncer."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL

from backend.db.urls import is_pooler_host, normalize_database_url
from backend.settings import Settings


def prepare_threshold(setting: str, pooled: bool) -> int | None:
    """psycopg's prepare_threshold. None disables server-side prepared statements (PgBouncer < 1.21)."""
    if setting == "none" or (setting == "auto" and pooled):
        return None
    if setting == "auto":
        return 5  # psycopg's own default
    return int(setting)


def connect_args(settings: Settings, url: URL) -> dict[str, Any]:
    """psycopg connection arguments on top of the URL's own (sslmode, ...)."""
    return {
        "connect_timeout": settings.db_connect_timeout_seconds,
        "prepare_threshold": prepare_threshold(settings.db_prepare_threshold, is_pooler_host(url)),
        # Detect a dead peer (suspended compute, dropped NAT entry) instead of waiting forever on a read.
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        "application_name": "todo-api",
    }


def build_engine(settings: Settings, database_url: str) -> Engine:
    url = normalize_database_url(database_url)
    return create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_recycle=settings.db_pool_recycle_seconds,
        pool_pre_ping=settings.db_pool_pre_ping,
        pool_use_lifo=True,  # lets surplus connections idle out and be recycled
        connect_args=connect_args(settings, url),
    )
