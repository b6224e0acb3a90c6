"""Fixtures for the security specs: a victim with data to protect, a token minter that works in every auth mode,
custom in-process apps (secret mode, CORS, docs off)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from backend.app import create_app
from harness.inprocess import make_settings
from harness.issuer import TokenIssuer
from harness.scenes import Owner, TableSnapshot, Victim, make_victim
from harness.tokens import Minter
from harness.users import UserFactory, create_task


@pytest.fixture(scope="session")
def minter(issuer: TokenIssuer, jwt_secret: str | None) -> Minter:
    return Minter(issuer, jwt_secret)


@pytest.fixture
def jwks_mode(jwt_secret: str | None) -> None:
    """For attacks on JWKS verification (kid, key confusion, iss/aud defaults): meaningless against a secret target."""
    if jwt_secret:
        pytest.skip("JWKS-mode attack; the target runs in secret mode (--jwt-secret)")


@pytest.fixture
def victim(client: httpx.Client, make_user: UserFactory) -> Victim:
    return make_victim(client, make_user("victim"))


@pytest.fixture
def intruder(client: httpx.Client, make_user: UserFactory) -> Owner:
    user = make_user("intruder")
    return Owner(user, create_task(client, user, "intruder's own task"))


@pytest.fixture
def actor(client: httpx.Client, make_user: UserFactory) -> Owner:
    user = make_user("actor")
    return Owner(user, create_task(client, user, "actor's task"))


@pytest.fixture
def build_client(worker_database_url: str) -> Iterator[Callable[..., TestClient]]:
    """An in-process app with its own settings (ENV_NAME=value overrides) on the worker's database; its lifespan
    (and so its connection pool) ends with the test."""
    with ExitStack() as started:

        def build(**env: Any) -> TestClient:
            app: FastAPI = create_app(make_settings(worker_database_url, **env))
            return started.enter_context(TestClient(app, raise_server_exceptions=False))

        yield build


@pytest.fixture
def table_snapshot(request: pytest.FixtureRequest, target_url: str | None) -> TableSnapshot:
    """Every row of users and tasks (in-process only; a target's database is out of reach, so None there)."""
    if target_url:
        return lambda: None
    engine: Engine = request.getfixturevalue("engine")

    def snapshot() -> object:
        with engine.connect() as connection:
            return (
                connection.execute(text("SELECT * FROM users ORDER BY id")).all(),
                connection.execute(text("SELECT * FROM tasks ORDER BY id")).all(),
            )

    return snapshot
