"""The per-request database dependency: the app's connection pool, which the repository borrows one connection from
per statement.

Every task route runs exactly one SQL statement, awaited on the event loop. A request-scoped session would hold a
connection for the whole request and add BEGIN/ROLLBACK round trips for nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from backend.db.pool import RequestPool


async def get_pool(request: Request) -> RequestPool:
    pool: RequestPool = request.app.state.pool
    return pool


DatabaseDep = Annotated[RequestPool, Depends(get_pool)]
