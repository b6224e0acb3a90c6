"""Shared fixtures: a real PostgreSQL database per xdist worker, a real JWKS issuer, the app and its client.

With --target-url the same tests run over HTTP against a deployed instance instead of the in-process app.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from backend.app import create_app
from backend.db.engine import build_engine
from backend.db.migrate import upgrade
from backend.settings import Settings
from harness.cleanup import CreatedUsers
from harness.database import database_url, janitor_for, server_url
from harness.inprocess import make_settings
from harness.issuer import TokenIssuer
from harness.users import ApiUser, UserFactory, new_user_id

pytest_plugins = ["pytester", "harness.spec.traceability", "harness.spec.fixtures"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("todo-api target mode")
    group.addoption("--target-url", default=os.environ.get("TARGET_URL"), help="run against this deployment")
    group.addoption("--jwt-secret", default=os.environ.get("TARGET_JWT_SECRET"), help="the target's BETTER_AUTH_SECRET")
    group.addoption(
        "--issuer-port",
        type=int,
        default=int(os.environ.get("TARGET_ISSUER_PORT", "0")),
        help="port for the harness's JWKS issuer (the target's BETTER_AUTH_URL is http://127.0.0.1:PORT)",
    )


# Fixtures that only exist in-process; a test needing one cannot run against a deployment.
IN_PROCESS_FIXTURES = frozenset(
    {"app", "engine", "settings", "worker_database_url", "client_for", "access_log", "caplog", "monkeypatch"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In target mode, tests marked `inprocess` or using in-process fixtures are reported as skipped, never run."""
    if not config.getoption("--target-url"):
        return
    skip = pytest.mark.skip(reason="needs the in-process app (not available with --target-url)")
    for item in items:
        needs = IN_PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if needs or item.get_closest_marker("inprocess"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def target_url(request: pytest.FixtureRequest) -> str | None:
    value: str | None = request.config.getoption("--target-url")
    return value


@pytest.fixture(scope="session")
def jwt_secret(request: pytest.FixtureRequest) -> str | None:
    value: str | None = request.config.getoption("--jwt-secret")
    return value


@pytest.fixture(scope="session")
def issuer(request: pytest.FixtureRequest) -> Iterator[TokenIssuer]:
    issuer = TokenIssuer(port=request.config.getoption("--issuer-port")).start()
    yield issuer
    issuer.stop()


@pytest.fixture(scope="session")
def worker_database_url(worker_id: str) -> Iterator[str]:
    server = server_url()
    dbname = f"todo_test_{worker_id}_{uuid.uuid4().hex[:8]}"
    janitor = janitor_for(server, dbname)
    janitor.init()
    url = database_url(server, dbname)
    upgrade(url)
    yield url
    janitor.drop()


@pytest.fixture(scope="session")
def settings(worker_database_url: str, issuer: TokenIssuer) -> Settings:
    return make_settings(worker_database_url, BETTER_AUTH_URL=issuer.base_url)


@pytest.fixture(scope="session")
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="session")
def engine(settings: Settings, worker_database_url: str) -> Iterator[Engine]:
    """The tests' own SQLAlchemy engine on the worker's database: to arrange rows and check what changed."""
    engine = build_engine(settings, worker_database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def client(request: pytest.FixtureRequest, target_url: str | None) -> Iterator[httpx.Client]:
    if target_url:
        with httpx.Client(base_url=target_url, timeout=15) as remote:
            yield remote
        return
    app: FastAPI = request.getfixturevalue("app")
    with TestClient(app) as local:
        yield local


@pytest.fixture(scope="session")
def user_factory(request: pytest.FixtureRequest, issuer: TokenIssuer) -> UserFactory:
    """Mints users with fresh ids: EdDSA tokens from the issuer, or HS256 ones with --jwt-secret."""
    secret: str | None = request.config.getoption("--jwt-secret")

    def factory(prefix: str = "user", **claims: Any) -> ApiUser:
        user_id = new_user_id(prefix)
        if secret:
            now = int(time.time())
            token = jwt.encode({"sub": user_id, "iat": now, "exp": now + 900, **claims}, secret, algorithm="HS256")
        else:
            token = issuer.mint(user_id, **claims)
        return ApiUser(id=user_id, token=token)

    return factory


@pytest.fixture
def make_user(user_factory: UserFactory, client: httpx.Client, target_url: str | None) -> Iterator[UserFactory]:
    """The test's users; in target mode every task they still own is deleted when the test ends."""
    created = CreatedUsers(client)

    def factory(prefix: str = "user", **claims: Any) -> ApiUser:
        return created.add(user_factory(prefix, **claims))

    yield factory
    if target_url:
        created.clean()


@pytest.fixture
def alice(make_user: UserFactory) -> ApiUser:
    return make_user("alice")


@pytest.fixture
def bob(make_user: UserFactory) -> ApiUser:
    return make_user("bob")
