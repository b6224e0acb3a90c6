"""A real Better Auth server (Node, npm) on the backend's own database, and the backend trusting it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from backend.app import create_app
from backend.db.engine import build_engine
from harness import better_auth
from harness.better_auth_server import BetterAuthServer, install, node_database_url
from harness.database import janitor_for, server_url
from harness.inprocess import make_settings
from harness.npm import require_node
from harness.users import ApiUser

# Short, so the rotation test can wait it out; production keeps the 30 s default.
REFETCH_COOLDOWN_SECONDS = 1.0


@pytest.fixture(scope="session")
def node_project() -> None:
    require_node()
    install()


@pytest.fixture(scope="session")
def better_auth_server(node_project: None, worker_database_url: str) -> Iterator[BetterAuthServer]:
    """Better Auth on the SAME database as the backend (as on Neon), its tables made by its own migration."""
    url = make_url(worker_database_url)
    server = BetterAuthServer(node_database_url(url, url.database or ""))
    server.migrate()
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def foreign_better_auth(node_project: None, better_auth_server: BetterAuthServer) -> Iterator[BetterAuthServer]:
    """Another Better Auth deployment (own database, secret and keys) that even claims our issuer and audience,
    so only its signing keys tell it apart."""
    server = server_url()
    dbname = f"todo_foreign_auth_{uuid.uuid4().hex[:8]}"
    janitor = janitor_for(server, dbname)
    janitor.init()
    foreign = BetterAuthServer(node_database_url(server, dbname), claim_issuer=better_auth_server.base_url)
    foreign.migrate()
    yield foreign.start()
    foreign.stop()
    janitor.drop()


@pytest.fixture(scope="session")
def interop_app(better_auth_server: BetterAuthServer, worker_database_url: str) -> FastAPI:
    settings = make_settings(
        worker_database_url,
        BETTER_AUTH_URL=better_auth_server.base_url,
        JWKS_REFETCH_COOLDOWN_SECONDS=REFETCH_COOLDOWN_SECONDS,
    )
    return create_app(settings)


@pytest.fixture(scope="session")
def interop_engine(interop_app: FastAPI, worker_database_url: str) -> Iterator[Engine]:
    engine = build_engine(interop_app.state.settings, worker_database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def api(interop_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(interop_app) as client:
        yield client


@pytest.fixture(scope="session")
def ba_alice(better_auth_server: BetterAuthServer) -> ApiUser:
    return better_auth.registered_user(better_auth_server.base_url, "ba-alice")


@pytest.fixture(scope="session")
def ba_bob(better_auth_server: BetterAuthServer) -> ApiUser:
    return better_auth.registered_user(better_auth_server.base_url, "ba-bob")
