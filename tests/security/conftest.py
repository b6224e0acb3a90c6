"""Fixtures for the security specs: a victim with data to protect, owners with tasks of their own, custom in-process
apps (secret mode, CORS, docs off), and every database row (in-process only)."""

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
from harness.credentials import UserLease
from harness.inprocess import make_settings
from harness.scenes import Owner, Victim, make_owner, make_victim
from harness.tokens import Minter
from harness.verdicts import could_not_run


@pytest.fixture
def asymmetric(minter: Minter) -> None:
    """For attacks on public-key verification (kid, key confusion): they do not apply to an HS256 target."""
    if not minter.asymmetric:
        could_not_run("an attack on public-key (JWKS) verification; the target verifies HS256 tokens")


@pytest.fixture
def victim(client: httpx.Client, make_user: UserLease) -> Victim:
    return make_victim(client, make_user("victim"))


@pytest.fixture
def intruder(client: httpx.Client, make_user: UserLease) -> Owner:
    return make_owner(client, make_user("intruder"), "intruder")


@pytest.fixture
def actor(client: httpx.Client, make_user: UserLease) -> Owner:
    return make_owner(client, make_user("actor"), "actor")


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
def table_snapshot(request: pytest.FixtureRequest, target_url: str | None) -> Callable[[], object]:
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
