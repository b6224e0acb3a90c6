"""The per-request database dependency: the engine, whose pool the repository borrows one connection from per call.

Every task route runs exactly one SQL statement, in the threadpool thread that runs the route. A request-scoped
Session would add two threadpool hops (its set-up and tear-down run there too) and BEGIN/ROLLBACK round trips for
nothing; an async dependency returning the engine costs neither.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


DatabaseDep = Annotated[Engine, Depends(get_engine)]
