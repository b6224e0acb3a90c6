"""Synchronous calls into the async backend, for unit tests: verify a token, learn why it was refused, run a
repository function on a pool."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from backend.auth.principal import Principal
from backend.auth.verifier import AuthError, TokenVerifier
from backend.db.pool import RequestPool


def verify(verifier: TokenVerifier, token: str) -> Principal:
    return asyncio.run(verifier.verify(token))


def refusal(verifier: TokenVerifier, token: str) -> str:
    """The reason the verifier gives for refusing `token` (the test fails if it is accepted)."""
    with pytest.raises(AuthError) as refused:
        verify(verifier, token)
    return refused.value.reason


T = TypeVar("T")


class Repository:
    """Calls the async repository functions on the app's own pool (psycopg, autocommit), from synchronous tests."""

    def __init__(self, runner: asyncio.Runner, pool: RequestPool) -> None:
        self._runner = runner
        self.pool = pool

    def __call__(self, function: Callable[..., Coroutine[Any, Any, T]], *args: Any, **kwargs: Any) -> T:
        return self._runner.run(function(self.pool, *args, **kwargs))
