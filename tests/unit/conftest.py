"""Unit-test fixtures: a clean configuration environment, a private JWKS issuer and a controllable clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from backend.auth.principal import Principal
from backend.auth.verifier import AuthError, TokenVerifier, build_verifier
from backend.db.pool import RequestPool, build_pool
from backend.settings import Settings
from tests.support.issuer import TokenIssuer


def _env_names() -> set[str]:
    return {str(field.validation_alias) for field in Settings.model_fields.values() if field.validation_alias}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> pytest.MonkeyPatch:
    """No configuration leaks in from the shell; each test sets exactly what it means."""
    for name in _env_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # a stray default data directory lands in tmp, never in the repository
    return monkeypatch


class FakeClock:
    """Moves only when the test says so; start it at real time when PyJWT (which reads time.time()) checks too."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def module_issuer() -> Iterator[TokenIssuer]:
    issuer = TokenIssuer().start()
    yield issuer
    issuer.stop()


@pytest.fixture
def jwks_verifier(jwks_issuer: TokenIssuer) -> TokenVerifier:
    """Built by build_verifier from BETTER_AUTH_URL alone, with no verified-token cache: every call verifies."""
    return build_verifier(Settings(BETTER_AUTH_URL=jwks_issuer.base_url, TOKEN_CACHE_SIZE=0))  # type: ignore[call-arg]


def verify(verifier: TokenVerifier, token: str) -> Principal:
    return asyncio.run(verifier.verify(token))


def refusal(verifier: TokenVerifier, token: str) -> str:
    """The reason the verifier gives for refusing `token` (the test fails if it is accepted)."""
    with pytest.raises(AuthError) as refused:
        verify(verifier, token)
    return refused.value.reason


@pytest.fixture
def jwks_issuer(module_issuer: TokenIssuer) -> Iterator[TokenIssuer]:
    """A JWKS endpoint of this module's own, reset after each test (tests rotate keys and take it down)."""
    keys = list(module_issuer.keys)
    module_issuer.requests.clear()
    yield module_issuer
    module_issuer.keys[:] = keys
    module_issuer.available = True


T = TypeVar("T")


class Repository:
    """Calls the async repository functions on the app's own pool (psycopg, autocommit), from synchronous tests."""

    def __init__(self, runner: asyncio.Runner, pool: RequestPool) -> None:
        self._runner = runner
        self.pool = pool

    def __call__(self, function: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        return self._runner.run(function(self.pool, *args, **kwargs))


@pytest.fixture(scope="module")
def repo(settings: Settings, worker_database_url: str) -> Iterator[Repository]:
    with asyncio.Runner() as runner:
        pool = build_pool(settings, worker_database_url)
        runner.run(pool.open(wait=True))
        yield Repository(runner, pool)
        runner.run(pool.close())
