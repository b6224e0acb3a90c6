"""Unit-test fixtures: a clean configuration environment, logging left as each test found it, a private JWKS issuer
and a controllable clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from backend.auth.verifier import TokenVerifier, build_verifier
from backend.db.pool import build_pool
from backend.settings import Settings
from harness.calls import Repository
from harness.clock import FakeClock
from harness.issuer import TokenIssuer


def _env_names() -> set[str]:
    return {str(field.validation_alias) for field in Settings.model_fields.values() if field.validation_alias}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> pytest.MonkeyPatch:
    """No configuration leaks in from the shell; each test sets exactly what it means."""
    for name in _env_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # a stray default data directory lands in tmp, never in the repository
    return monkeypatch


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    """`serve` and create_app configure logging for the whole process: their handlers write to the stderr of the
    test that made them, which pytest closes after it. Each test gets back the handlers it started with."""
    loggers = [logging.getLogger(name) for name in ("backend", "py.warnings")]
    saved = [(logger, logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    yield
    logging.captureWarnings(False)
    for logger, handlers, level, propagate in saved:
        logger.handlers[:], logger.level, logger.propagate = handlers, level, propagate


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


@pytest.fixture
def jwks_issuer(module_issuer: TokenIssuer) -> Iterator[TokenIssuer]:
    """A JWKS endpoint of this module's own, reset after each test (tests rotate keys and take it down)."""
    keys = list(module_issuer.keys)
    module_issuer.requests.clear()
    yield module_issuer
    module_issuer.keys[:] = keys
    module_issuer.available = True


@pytest.fixture(scope="module")
def repo(settings: Settings, worker_database_url: str) -> Iterator[Repository]:
    with asyncio.Runner() as runner:
        pool = build_pool(settings, worker_database_url)
        runner.run(pool.open(wait=True))
        yield Repository(runner, pool)
        runner.run(pool.close())
