"""Fixtures for the security specs: a victim with data to protect, a token minter that works in every auth mode,
custom in-process apps (secret mode, CORS, docs off), and target-mode cleanup."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from backend.app import create_app
from tests.conftest import make_settings
from tests.security.checks import INVALID_TOKEN, assert_refused
from tests.security.forge import eddsa_token, hmac_token
from tests.support.issuer import TokenIssuer
from tests.support.users import ApiUser, UserFactory, create_task, list_all

ATTACK_BODY = {"title": "pwned"}


@dataclass
class Minter:
    """Signs arbitrary claims the way the server under test trusts: the issuer's EdDSA key or the HS256 secret."""

    issuer: TokenIssuer
    secret: str | None = None

    def claims(self, sub: Any, ttl: int = 900, **overrides: Any) -> dict[str, Any]:
        if self.secret is None:
            return self.issuer.claims(sub, ttl, **overrides)
        now = int(time.time())
        return {"sub": sub, "iat": now, "exp": now + ttl, **overrides}

    def sign(self, payload: Any, headers: dict[str, Any] | None = None) -> str:
        if self.secret is not None:
            return hmac_token({"alg": "HS256", "typ": "JWT", **(headers or {})}, payload, self.secret.encode())
        key = self.issuer.current_key
        return eddsa_token({"typ": "JWT", "kid": key.kid, **(headers or {})}, payload, key.private)

    def sign_foreign(self, payload: Any, headers: dict[str, Any] | None = None) -> str:
        """Signed by a key the server does not trust, labelled exactly like a trusted one (same alg, same kid)."""
        if self.secret is not None:
            return hmac_token({"alg": "HS256", "typ": "JWT", **(headers or {})}, payload, secrets.token_bytes(32))
        kid = self.issuer.current_key.kid
        return eddsa_token({"typ": "JWT", "kid": kid, **(headers or {})}, payload, Ed25519PrivateKey.generate())

    def mint(
        self,
        sub: Any,
        *,
        ttl: int = 900,
        drop: tuple[str, ...] = (),
        headers: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        claims = self.claims(sub, ttl, **overrides)
        for name in drop:
            claims.pop(name, None)
        return self.sign(claims, headers)


@dataclass
class Victim:
    """A user with a task; every attack aims a write at that task and then proves it is unchanged."""

    client: httpx.Client
    user: ApiUser
    task: dict[str, Any]
    before: list[dict[str, Any]]

    @property
    def task_url(self) -> str:
        return self.user.tasks_url(self.task["id"])

    def attempt(self, token: str | None = None, headers: Any = None, **kwargs: Any) -> httpx.Response:
        if headers is None:
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return self.client.put(self.task_url, json=ATTACK_BODY, headers=headers, **kwargs)

    def assert_untouched(self) -> None:
        assert list_all(self.client, self.user) == self.before

    def assert_refuses(
        self, token: str | None = None, headers: Any = None, challenge: re.Pattern[str] = INVALID_TOKEN, **kwargs: Any
    ) -> httpx.Response:
        """The attack gets a clean 401 that echoes nothing of the token, and the task is exactly as it was."""
        response = self.attempt(token, headers, **kwargs)
        assert_refused(response, token, challenge=challenge)
        self.assert_untouched()
        return response

    def assert_accepts(self, token: str) -> None:
        """Positive control: the same route answers 200 to this token (read-only, so nothing changes)."""
        response = self.client.get(self.task_url, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        assert response.json() == self.task


def make_victim(client: httpx.Client, user: ApiUser) -> Victim:
    task = create_task(client, user, "victim's task", description="must never change")
    return Victim(client=client, user=user, task=task, before=list_all(client, user))


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


@dataclass
class Owner:
    """A user with one task of their own: the intruder of the isolation tests, the sender of hostile bodies."""

    user: ApiUser
    task: dict[str, Any]


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


TableSnapshot = Callable[[], object]


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
