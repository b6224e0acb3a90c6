"""Typed dependencies for what the app holds: its settings, its token verifier and its connection pool.

Routes and dependencies ask for these by type (`settings: SettingsDep`) instead of reaching into
`request.app.state`, so what a route needs is in its signature and a test can override one dependency.
`settings_of` and `verifier_of` are the same look-ups for the authentication dependency, which resolves them itself:
every sub-dependency costs FastAPI about 5 µs per request (specs/performance.md), and it runs on every API request.

They are `async def` although they never await: FastAPI runs a plain `def` dependency in its threadpool, and that
hop cost GET one more than half its in-process time (specs/performance.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from backend.auth.verifier import TokenVerifier
from backend.db.pool import RequestPool
from backend.settings import Settings


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def verifier_of(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.verifier
    return verifier


async def get_settings(request: Request) -> Settings:
    return settings_of(request)


async def get_verifier(request: Request) -> TokenVerifier:
    return verifier_of(request)


async def get_pool(request: Request) -> RequestPool:
    # One pool per app: the repository borrows a connection from it for each statement (backend/db/pool.py).
    pool: RequestPool = request.app.state.pool
    return pool


SettingsDep = Annotated[Settings, Depends(get_settings)]
VerifierDep = Annotated[TokenVerifier, Depends(get_verifier)]
PoolDep = Annotated[RequestPool, Depends(get_pool)]
