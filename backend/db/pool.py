"""The request path's connection pool: psycopg's AsyncConnectionPool, shaped for Neon.

Routes are async and await psycopg directly: no threadpool hop and no SQLAlchemy execution layer per request
(specs/performance.md measured both). The SQLAlchemy engine (`backend/db/engine.py`) stays for migrations and
tooling.
"""

from __future__ import annotations

from time import monotonic
from typing import Any
from weakref import WeakKeyDictionary

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from backend.db.engine import connect_args
from backend.db.urls import normalize_database_url
from backend.settings import Settings

Pool = AsyncConnectionPool[AsyncConnection[DictRow]]


class IdleCheck:
    """Pings a connection before handing it out only if it sat idle for `idle_seconds` or more.

    A connection returned a moment ago is alive; one that idled may have been dropped by a suspended Neon compute or
    a NAT timeout. A busy pool therefore never pays the round trip, and a dead connection is still never handed out:
    the pool discards it and gives the request another (psycopg_pool's `check` contract).
    """

    def __init__(self, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self._returned_at: WeakKeyDictionary[AsyncConnection[Any], float] = WeakKeyDictionary()

    async def mark_returned(self, connection: AsyncConnection[Any]) -> None:
        self._returned_at[connection] = monotonic()

    async def check(self, connection: AsyncConnection[Any]) -> None:
        returned_at = self._returned_at.get(connection)
        if returned_at is None or monotonic() - returned_at >= self.idle_seconds:
            await AsyncConnectionPool.check_connection(connection)


def build_pool(settings: Settings, database_url: str) -> Pool:
    """A closed pool: open it inside the event loop that will use it (the app's lifespan does)."""
    url = normalize_database_url(database_url)
    idle_check = IdleCheck(settings.db_pool_ping_idle_seconds) if settings.db_pool_pre_ping else None
    return AsyncConnectionPool(
        url.set(drivername="postgresql").render_as_string(hide_password=False),
        connection_class=AsyncConnection[DictRow],
        # One statement per request, each its own transaction: no BEGIN/COMMIT round trips.
        kwargs={**connect_args(settings, url), "autocommit": True, "row_factory": dict_row},
        min_size=min(settings.db_pool_min_size, settings.db_pool_size + settings.db_max_overflow),
        max_size=settings.db_pool_size + settings.db_max_overflow,
        timeout=settings.db_pool_timeout_seconds,
        # Neon suspends an idle compute after 5 minutes: retire connections before that.
        max_lifetime=settings.db_pool_recycle_seconds,
        max_idle=settings.db_pool_recycle_seconds,
        check=idle_check.check if idle_check else None,
        reset=idle_check.mark_returned if idle_check else None,
        name="todo-api",
        open=False,
    )
