"""The request pool's idle check on the real PostgreSQL: a connection that idled is tested before use, so one the
server dropped (a suspended Neon compute, a restart) is replaced instead of failing the request; one returned a moment
ago is handed out without a round trip."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text

from backend.db.pool import Pool, build_pool
from backend.tasks import repository
from tests.conftest import make_settings
from tests.support.users import new_user_id


def _pool(database_url: str, **env: Any) -> Pool:
    return build_pool(
        make_settings(database_url, DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, DB_POOL_MIN_SIZE=1, **env), database_url
    )


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


async def _backend_pid(pool: Pool) -> int:
    async with pool.connection() as connection:
        return connection.info.backend_pid


def _drop_connection(engine: Engine, pid: int) -> None:
    with engine.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one() is True


async def _read_after_the_server_dropped_the_connection(pool: Pool, engine: Engine, idle: float) -> tuple[int, int]:
    await pool.open(wait=True)
    try:
        dropped = await _backend_pid(pool)
        _drop_connection(engine, dropped)
        await asyncio.sleep(idle)
        assert await repository.get_task(pool, new_user_id("idle"), 1) is None
        return dropped, await _backend_pid(pool)
    finally:
        await pool.close()


@pytest.mark.req("DB-POOL")
def test_a_connection_dropped_while_idle_is_replaced_before_use(runner, engine, worker_database_url):
    pool = _pool(worker_database_url, DB_POOL_PING_IDLE_SECONDS=0.2)
    dropped, serving = runner.run(_read_after_the_server_dropped_the_connection(pool, engine, idle=0.3))
    assert serving != dropped


@pytest.mark.req("DB-POOL")
def test_a_connection_returned_within_the_idle_window_is_not_pinged(runner, engine, worker_database_url):
    # The proof that no round trip is spent: the dead connection is handed out unchecked and the statement fails.
    pool = _pool(worker_database_url, DB_POOL_PING_IDLE_SECONDS=60)
    with pytest.raises(psycopg.OperationalError):
        runner.run(_read_after_the_server_dropped_the_connection(pool, engine, idle=0))
