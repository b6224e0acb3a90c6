"""The request path's connection pool: psycopg's AsyncConnectionPool, shaped for Neon.

Routes are async and await psycopg directly: no threadpool hop and no SQLAlchemy execution layer per request
(specs/performance.md measured both). The SQLAlchemy engine (`backend/db/engine.py`) stays for migrations and
tooling.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from backend.db.engine import connect_args
from backend.db.urls import normalize_database_url
from backend.settings import Settings


class Connection(AsyncConnection[DictRow]):
    """A pooled connection that remembers when it was last returned (psycopg's connection has no slots to forbid it:
    an attribute costs a request less than a WeakKeyDictionary look-up on each borrow and each return)."""

    returned_at: float | None = None


class RequestPool(AsyncConnectionPool[Connection]):
    """Tests a connection before handing it out only if it sat idle for `ping_idle_seconds`, and replaces every idle
    connection as soon as one turns out broken.

    A connection returned a moment ago is alive; one that idled may have been dropped by a suspended Neon compute or
    a NAT timeout, so it is tested (and, if dead, discarded: psycopg_pool's `check` contract). A busy pool therefore
    never pays the round trip. When a request does draw a dead connection (the server restarted under load), its
    siblings died with it: draining the pool makes that one request the only casualty, not one per pooled connection.
    """

    def __init__(self, *args: Any, ping_idle_seconds: float | None, **kwargs: Any) -> None:
        check = self._check_if_idle if ping_idle_seconds is not None else None
        super().__init__(*args, check=check, **kwargs)
        self.ping_idle_seconds = ping_idle_seconds or 0.0
        self._last_drain = float("-inf")

    async def fetch(self, sql: str, params: dict[str, Any]) -> list[DictRow]:
        """The rows of one statement, run on a connection borrowed for it alone.

        getconn/putconn rather than `connection()`: that context also enters the connection's own, whose exit looks
        for a transaction to commit, under the connection's lock, and an autocommit connection never has one. After a
        failed statement, putconn rolls the connection back or discards it, as its state requires.
        """
        connection = await self.getconn()
        try:
            cursor = await connection.execute(sql, params)
            return await cursor.fetchall()
        finally:
            await self.putconn(connection)

    async def putconn(self, conn: Connection) -> None:
        now = monotonic()
        if not conn.broken:
            conn.returned_at = now
        elif now - self._last_drain > 1.0:  # one drain per outage, not one per broken connection
            self._last_drain = now
            await self.drain()
        await super().putconn(conn)

    async def _check_if_idle(self, conn: Connection) -> None:
        returned_at = conn.returned_at
        if returned_at is None or monotonic() - returned_at >= self.ping_idle_seconds:
            await self.check_connection(conn)


def build_pool(settings: Settings, database_url: str) -> RequestPool:
    """A closed pool: open it inside the event loop that will use it (the app's lifespan does)."""
    url = normalize_database_url(database_url)
    return RequestPool(
        url.set(drivername="postgresql").render_as_string(hide_password=False),
        connection_class=Connection,
        # One statement per request, each its own transaction: no BEGIN/COMMIT round trips.
        kwargs={**connect_args(settings, url), "autocommit": True, "row_factory": dict_row},
        min_size=min(settings.db_pool_min_size, settings.db_pool_size + settings.db_max_overflow),
        max_size=settings.db_pool_size + settings.db_max_overflow,
        timeout=settings.db_pool_timeout_seconds,
        # Neon suspends an idle compute after 5 minutes: retire connections before that.
        max_lifetime=settings.db_pool_recycle_seconds,
        max_idle=settings.db_pool_recycle_seconds,
        # psycopg_pool retries a failed connection with doubling delays until this timeout, then lets the next waiting
        # request start a fresh attempt: bounding it bounds how long after an outage the pool notices the database
        # is back (its 300 s default would allow minute-long gaps between attempts).
        reconnect_timeout=settings.db_pool_timeout_seconds,
        ping_idle_seconds=settings.db_pool_ping_idle_seconds if settings.db_pool_pre_ping else None,
        name="todo-api",
        open=False,
    )
