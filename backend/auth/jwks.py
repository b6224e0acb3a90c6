"""A JWKS key cache: keys live for a cache lifetime, unknown kids refetch at most once per cooldown, and an
unreachable JWKS endpoint leaves the cached keys in service."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httpx
from jwt import PyJWK, PyJWKSet, PyJWTError

from backend.metrics import NOOP, Recorder

log = logging.getLogger("backend.auth.jwks")

MAX_JWKS_BYTES = 256 * 1024


class SigningKeyNotFoundError(Exception):
    """No trusted key has this kid (after at most one permitted refetch)."""


class JwksKeyStore:
    def __init__(
        self,
        url: str,
        *,
        allowed_algorithms: frozenset[str],
        cache_seconds: float,
        refetch_cooldown_seconds: float,
        timeout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        metrics: Recorder = NOOP,
    ) -> None:
        self.url = url
        self.allowed_algorithms = allowed_algorithms
        self.cache_seconds = cache_seconds
        self.refetch_cooldown_seconds = refetch_cooldown_seconds
        self.timeout_seconds = timeout_seconds
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self._metrics = metrics
        self.fetch_count = 0

    async def key_for(self, kid: str) -> PyJWK:
        if self._is_fresh() and kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if self._may_refetch():
                await self.refresh()
        try:
            return self._keys[kid]
        except KeyError:
            raise SigningKeyNotFoundError from None

    @property
    def key_count(self) -> int:
        return len(self._keys)

    @property
    def has_fetched(self) -> bool:
        return self._fetched_at is not None

    def _is_fresh(self) -> bool:
        return self._fetched_at is not None and self._clock() - self._fetched_at < self.cache_seconds

    def _may_refetch(self) -> bool:
        if self._attempted_at is None:
            return True
        return self._clock() - self._attempted_at >= self.refetch_cooldown_seconds

    async def refresh(self) -> None:
        self._attempted_at = self._clock()
        self.fetch_count += 1
        try:
            keys = await self._fetch()
        except (httpx.HTTPError, ValueError, PyJWTError) as exc:
            # Keep serving what we have: a JWKS outage must not lock every user out.
            # pragma: no mutate start (log text, not behaviour)
            log.warning("JWKS fetch failed (%s); keeping %d cached key(s)", type(exc).__name__, len(self._keys))
            # pragma: no mutate end
            self._metrics.jwks_fetch(ok=False)
            return
        self._metrics.jwks_fetch(ok=True)
        self._keys = keys
        self._fetched_at = self._clock()

    async def _fetch(self) -> dict[str, PyJWK]:
        async with httpx.AsyncClient(timeout=self.timeout_seconds, follow_redirects=False) as client:
            response = await client.get(self.url, headers={"Accept": "application/json"})
        response.raise_for_status()
        if len(response.content) > MAX_JWKS_BYTES:
            raise ValueError("JWKS document too large")
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError("JWKS document is not an object")
        keys = {
            key.key_id: key
            for key in PyJWKSet.from_dict(document)
            if key.key_id and key.algorithm_name in self.allowed_algorithms
        }
        if not keys:
            raise ValueError("JWKS has no usable key for the allowed algorithms")
        return keys
