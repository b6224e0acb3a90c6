"""Shared fixtures: a real PostgreSQL database per xdist worker, a real JWKS issuer, the app and its client.

With --target-url the same tests run over HTTP against a deployed instance instead of the in-process app; users come
from the credential source the command line chose (harness/credentials.py), and what they create is deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from backend.app import create_app
from backend.db.engine import build_engine
from backend.db.migrate import upgrade
from backend.settings import Settings
from harness.better_auth import BetterAuthError
from harness.checks import describe
from harness.cleanup import CreatedTasks, clean_user
from harness.credentials import Credentials, FileCredentials, Sources, UserLease, build_credentials
from harness.database import database_url, janitor_for, server_url
from harness.discovery import RouteShapes
from harness.inprocess import make_settings
from harness.issuer import TokenIssuer
from harness.keys import CLEANUP, ROUTES_KEY
from harness.scenes import Scene, build_scene
from harness.tokens import Minter
from harness.users import ApiUser, UserFactory

pytest_plugins = ["pytester", "harness.spec.traceability", "harness.plugin"]


@pytest.fixture(scope="session")
def target_url(request: pytest.FixtureRequest) -> str | None:
    value: str | None = request.config.getoption("--target-url")
    return value


@pytest.fixture(scope="session")
def issuer(request: pytest.FixtureRequest) -> Iterator[TokenIssuer]:
    issuer = TokenIssuer(port=request.config.getoption("--issuer-port")).start()
    yield issuer
    issuer.stop()


@pytest.fixture(scope="session")
def routes(request: pytest.FixtureRequest) -> RouteShapes:
    """The task routes: this backend's layout in-process, what discovery found on a target."""
    return request.config.stash[ROUTES_KEY]


@pytest.fixture(scope="session")
def credentials(request: pytest.FixtureRequest, routes: RouteShapes, worker_id: str) -> Iterator[Credentials]:
    option = request.config.getoption
    sources = Sources(
        jwt_secret=option("--jwt-secret"),
        jwt_issuer=option("--jwt-issuer"),
        jwt_audience=option("--jwt-audience"),
        better_auth_url=option("--better-auth-url"),
        tokens_file=option("--tokens"),
        jwks_url=option("--jwks-url"),
    )
    issuer = None if sources.chosen else request.getfixturevalue("issuer")
    try:
        source = build_credentials(sources, issuer, routes.paths)
    except (BetterAuthError, ValueError, httpx.HTTPError) as exc:
        pytest.exit(f"the credential source cannot be used: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
    if isinstance(source, FileCredentials) and worker_id != "master":
        source.share(int(worker_id.removeprefix("gw")), int(request.config.workerinput["workercount"]))  # type: ignore[attr-defined]
    yield source
    source.close()


@pytest.fixture(scope="session")
def minter(credentials: Credentials, client: httpx.Client, target_url: str | None) -> Minter:
    """Tokens signed the way the server under test trusts (when the harness holds that key) and forgeries.
    Against a target, a token the harness signs must first be accepted: otherwise every claim attack would pass for
    the wrong reason, so they could not run instead."""
    minter = credentials.minter
    if target_url and minter.can_sign:
        baseline = credentials.user("baseline")
        response = client.get(baseline.tasks_url(), headers=baseline.headers)
        if not response.is_success:
            minter.signer = None
            minter.why_unsigned = f"the target refused a token the harness signed ({describe(response)})"
    return minter


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
def created_tasks(routes: RouteShapes) -> CreatedTasks:
    """Every task a create answered on the target: cleanup deletes them even when a user's list is broken."""
    return CreatedTasks(routes.paths)


@pytest.fixture(scope="session")
def client(
    request: pytest.FixtureRequest, target_url: str | None, created_tasks: CreatedTasks
) -> Iterator[httpx.Client]:
    if target_url:
        hooks = {"response": [created_tasks.record]}
        with httpx.Client(base_url=target_url, timeout=15, event_hooks=hooks) as remote:
            yield remote
        return
    app: FastAPI = request.getfixturevalue("app")
    with TestClient(app) as local:
        yield local


@pytest.fixture(scope="session")
def user_factory(credentials: Credentials) -> UserFactory:
    """Users outside a test's lease (module fixtures of the in-process suite)."""
    return credentials.user


@pytest.fixture
def make_user(
    request: pytest.FixtureRequest,
    credentials: Credentials,
    client: httpx.Client,
    target_url: str | None,
    created_tasks: CreatedTasks,
) -> Iterator[UserLease]:
    """The test's users; on a target every task they own is deleted when the test ends, even after a failed setup."""
    lease = UserLease(credentials)
    yield lease
    deleted = left = 0
    for user in lease.users:
        if target_url:
            cleaned = clean_user(client, user, created_tasks)
            deleted, left = deleted + cleaned.deleted, left + (cleaned.left if cleaned.left is not None else 1)
            credentials.release(user, cleaned.clean)
        else:
            credentials.release(user, clean=True)
    if target_url:
        request.node.user_properties.append((CLEANUP, {"tasks deleted": deleted, "users left unclean": left}))


@pytest.fixture
def alice(make_user: UserLease) -> ApiUser:
    return make_user("alice")


@pytest.fixture
def bob(make_user: UserLease) -> ApiUser:
    return make_user("bob")


@pytest.fixture
def taxonomy_scene(client: httpx.Client, make_user: UserLease, minter: Minter) -> Scene:
    """An owner and an intruder, each with one task (deleted afterwards, also on a target)."""
    return build_scene(client, make_user, minter)
