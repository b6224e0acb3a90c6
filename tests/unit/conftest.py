"""Unit-test fixtures: a clean configuration environment, a private JWKS issuer and a controllable clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

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
    def __init__(self) -> None:
        self.now = 1000.0

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
