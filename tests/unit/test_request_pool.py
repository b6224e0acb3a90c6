"""The request pool on the real PostgreSQL: a connection that idled is tested before use, so one the server dropped
(a suspended Neon compute) is replaced instead of failing the request; one returned a moment ago is handed out
without a round trip; and once a request draws a dead connection, its dead siblings are replaced, not handed out."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text

from backend.db.pool import RequestPool, build_pool
from backend.tasks import repository
from harness.inprocess import make_settings
from harness.users import new_user_id


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


def _pool(database_url: str, size: int, **env: Any) -> RequestPool:
    settings = make_settings(database_url, DB_POOL_SIZE=size, DB_MAX_OVERFLOW=0, DB_POOL_MIN_SIZE=size, **env)
    return build_pool(settings, database_url)


async def _backend_pids(pool: RequestPool) -> set[int]:
    """The server process behind every pooled connection (all checked out at once, so each is seen)."""
    connections = [await pool.getconn() for _ in range(pool.max_size)]
    pids = {connection.info.backend_pid for connection in connections}
    for connection in connections:
        await pool.putconn(connection)
    return pids


def _drop_connections(engine: Engine, pids: set[int]) -> None:
    with engine.connect() as connection:
        for pid in pids:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one() is True


async def _read(pool: RequestPool) -> None:
    assert await repository.get_task(pool, new_user_id("pool"), 1) is None


async def _reads_after_the_server_dropped_every_connection(
    pool: RequestPool, engine: Engine, idle: float, reads: int
) -> tuple[list[str], set[int], set[int]]:
    """Each read's outcome ("ok" or "failed"), the dropped server pids and the pids serving afterwards."""
    await pool.open(wait=True)
    try:
        dropped = await _backend_pids(pool)
        _drop_connections(engine, dropped)
        await asyncio.sleep(idle)
        outcomes = []
        for _ in range(reads):
            try:
                await _read(pool)
                outcomes.append("ok")
            except psycopg.OperationalError:  # AdminShutdown: the server terminated this connection
                outcomes.append("failed")
        await pool.wait(timeout=5)
        return outcomes, dropped, await _backend_pids(pool)
    finally:
        await pool.close()


@pytest.mark.req("DB-POOL")
def test_a_connection_dropped_while_idle_is_replaced_before_use(runner, engine, worker_database_url):
    pool = _pool(worker_database_url, size=1, DB_POOL_PING_IDLE_SECONDS=0.2)
    outcomes, dropped, serving = runner.run(_reads_after_the_server_dropped_every_connection(pool, engine, 0.3, 1))
    assert outcomes == ["ok"]
    assert serving.isdisjoint(dropped)


@pytest.mark.req("DB-POOL")
def test_a_connection_returned_within_the_idle_window_is_not_pinged(runner, engine, worker_database_url):
    # The proof that no round trip is spent: the dead connection is handed out unchecked and the statement fails.
    pool = _pool(worker_database_url, size=1, DB_POOL_PING_IDLE_SECONDS=60)
    outcomes, _, _ = runner.run(_reads_after_the_server_dropped_every_connection(pool, engine, 0, 1))
    assert outcomes == ["failed"]


@pytest.mark.req("DB-POOL", "ERR-503")
def test_after_one_dead_connection_the_others_are_replaced_not_handed_out(runner, engine, worker_database_url):
    pool = _pool(worker_database_url, size=3, DB_POOL_PING_IDLE_SECONDS=60)
    outcomes, dropped, serving = runner.run(_reads_after_the_server_dropped_every_connection(pool, engine, 0, 4))
    assert outcomes == ["failed", "ok", "ok", "ok"]
    assert len(serving) == 3
    assert serving.isdisjoint(dropped)


async def _fetch_after_a_failed_statement(pool: RequestPool) -> tuple[int, list[dict[str, Any]], int, dict[str, int]]:
    """The server pid that ran a failing statement, the next fetch's rows and pid, and the pool's stats after both."""
    await pool.open(wait=True)
    try:
        failing = await _backend_pids(pool)
        with pytest.raises(psycopg.errors.DivisionByZero):
            await pool.fetch("SELECT 1 / 0 AS never", {})
        rows = await pool.fetch("SELECT pg_backend_pid() AS pid, 2 AS two", {})
        return failing.pop(), rows, rows[0]["pid"], pool.get_stats()
    finally:
        await pool.close()


@pytest.mark.req("DB-POOL")
def test_a_statement_that_fails_returns_its_connection_to_the_pool_ready_for_the_next(runner, worker_database_url):
    pool = _pool(worker_database_url, size=1)
    failed_on, rows, served_by, stats = runner.run(_fetch_after_a_failed_statement(pool))
    assert rows == [{"pid": served_by, "two": 2}]
    assert served_by == failed_on  # the same connection, not a replacement: it was returned, clean
    assert stats["pool_available"] == 1
    assert stats.get("returns_bad", 0) == 0
