"""Settings for an in-process app under test: the worker's database, quiet logs, short bounded timeouts."""

from __future__ import annotations

from typing import Any

from backend.settings import Settings


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "TODO_ENV": "test",
        "TODO_LOG_LEVEL": "WARNING",
        "DB_POOL_SIZE": 5,
        "DB_POOL_TIMEOUT_SECONDS": 2,
        "DB_CONNECT_TIMEOUT_SECONDS": 2,
        "JWKS_TIMEOUT_SECONDS": 1,
        **overrides,
    }
    return Settings(**values)
