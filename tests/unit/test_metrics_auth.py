"""What the verifier and the JWKS store tell the metrics recorder: a cache hit or miss per token, a fetch and its
outcome per JWKS request (the counts `/metrics` publishes; tests/api/test_metrics.py reads them over HTTP)."""

from __future__ import annotations

import asyncio

import pytest

from backend.auth.jwks import JwksKeyStore
from backend.auth.verifier import AuthError, build_verifier
from backend.metrics import Recorder
from backend.settings import Settings


class Spy(Recorder):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def token_cache_hit(self) -> None:
        self.calls.append("hit")

    def token_cache_miss(self) -> None:
        self.calls.append("miss")

    def jwks_fetch(self, ok: bool) -> None:
        self.calls.append(f"fetch ok={ok}")


@pytest.mark.req("OPS-METRICS")
@pytest.mark.parametrize(("cache_size", "expected"), [(16, ["miss", "hit", "hit"]), (0, ["miss", "miss", "miss"])])
def test_each_verification_is_a_cache_hit_or_a_miss(jwks_issuer, cache_size, expected):
    spy = Spy()
    settings = Settings(BETTER_AUTH_URL=jwks_issuer.base_url, TOKEN_CACHE_SIZE=cache_size)  # type: ignore[call-arg]
    verifier = build_verifier(settings, spy)
    token = jwks_issuer.mint("metrics-user")

    for _ in range(3):
        assert asyncio.run(verifier.verify(token)).user_id == "metrics-user"

    assert [call for call in spy.calls if not call.startswith("fetch")] == expected
    assert [call for call in spy.calls if call.startswith("fetch")] == ["fetch ok=True"]


@pytest.mark.req("OPS-METRICS")
def test_a_refused_token_is_a_miss_and_never_a_hit(jwks_issuer):
    spy = Spy()
    verifier = build_verifier(Settings(BETTER_AUTH_URL=jwks_issuer.base_url), spy)  # type: ignore[call-arg]
    for _ in range(2):
        with pytest.raises(AuthError):
            asyncio.run(verifier.verify(jwks_issuer.mint("u", ttl=-100)))
    assert spy.calls.count("miss") == 2
    assert "hit" not in spy.calls


@pytest.mark.req("OPS-METRICS")
def test_each_jwks_fetch_reports_its_outcome(jwks_issuer):
    spy = Spy()
    store = JwksKeyStore(
        jwks_issuer.jwks_url,
        allowed_algorithms=frozenset({"EdDSA"}),
        cache_seconds=300,
        refetch_cooldown_seconds=0,
        timeout_seconds=2,
        metrics=spy,
    )
    asyncio.run(store.refresh())
    jwks_issuer.available = False
    asyncio.run(store.refresh())
    assert spy.calls == ["fetch ok=True", "fetch ok=False"]
    assert store.fetch_count == 2
