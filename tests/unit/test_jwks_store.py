"""The JWKS key store against a real JWKS endpoint on loopback, with a clock the tests move."""

from __future__ import annotations

import asyncio

import pytest
from jwt import PyJWK

from backend.auth.jwks import JwksKeyStore, SigningKeyNotFoundError

CACHE = 300.0
COOLDOWN = 30.0


def make_store(url: str, clock, algorithms: frozenset[str] = frozenset({"EdDSA"})) -> JwksKeyStore:
    return JwksKeyStore(
        url,
        allowed_algorithms=algorithms,
        cache_seconds=CACHE,
        refetch_cooldown_seconds=COOLDOWN,
        timeout_seconds=2,
        clock=clock,
    )


@pytest.fixture
def store(jwks_issuer, clock) -> JwksKeyStore:
    return make_store(jwks_issuer.jwks_url, clock)


def key_for(store: JwksKeyStore, kid: str) -> PyJWK:
    return asyncio.run(store.key_for(kid))


def assert_unknown(store: JwksKeyStore, kid: str) -> None:
    with pytest.raises(SigningKeyNotFoundError):
        key_for(store, kid)


@pytest.mark.req("AUTH-JWKS-CACHE")
def test_keys_are_fetched_once_and_then_served_from_the_cache(store, jwks_issuer, clock):
    kid = jwks_issuer.current_key.kid
    first = key_for(store, kid)
    clock.advance(CACHE - 1)
    assert key_for(store, kid) is first
    assert store.fetch_count == 1
    assert jwks_issuer.requests == ["/api/auth/jwks"]


@pytest.mark.req("AUTH-JWKS-CACHE")
def test_an_unknown_kid_refetches_at_most_once_per_cooldown(store, jwks_issuer, clock):
    key_for(store, jwks_issuer.current_key.kid)
    clock.advance(COOLDOWN)
    for _ in range(5):
        assert_unknown(store, "no-such-kid")
    assert store.fetch_count == 2

    clock.advance(COOLDOWN - 1)
    assert_unknown(store, "another-unknown-kid")
    assert store.fetch_count == 2

    clock.advance(1)
    assert_unknown(store, "another-unknown-kid")
    assert store.fetch_count == 3
    assert len(jwks_issuer.requests) == 3


@pytest.mark.req("AUTH-JWKS-ROTATION", "AUTH-JWKS-CACHE")
def test_a_new_kid_is_found_by_the_first_refetch_after_the_cooldown(store, jwks_issuer, clock):
    key_for(store, jwks_issuer.current_key.kid)
    rotated = jwks_issuer.rotate()
    assert_unknown(store, rotated.kid)  # within the cooldown of the first fetch: no refetch yet
    clock.advance(COOLDOWN)
    assert key_for(store, rotated.kid).key_id == rotated.kid
    assert store.fetch_count == 2


@pytest.mark.req("AUTH-JWKS-ROTATION", "AUTH-JWKS-CACHE")
def test_keys_are_refreshed_after_the_cache_lifetime_and_a_removed_key_is_dropped(store, jwks_issuer, clock):
    old = jwks_issuer.current_key
    key_for(store, old.kid)
    jwks_issuer.rotate()
    jwks_issuer.keys.remove(old)

    clock.advance(CACHE - 1)
    assert key_for(store, old.kid).key_id == old.kid  # still inside the cache lifetime
    clock.advance(1)
    assert_unknown(store, old.kid)
    assert store.fetch_count == 2


@pytest.mark.req("AUTH-JWKS-OUTAGE")
def test_cached_keys_keep_working_while_the_endpoint_is_down(store, jwks_issuer, clock):
    kid = jwks_issuer.current_key.kid
    key_for(store, kid)
    jwks_issuer.available = False

    for _ in range(3):
        clock.advance(CACHE)
        assert key_for(store, kid).key_id == kid

    assert store.fetch_count == 4  # it kept trying, once per expiry, and kept the keys it had
    assert store.key_count == 1


@pytest.mark.req("AUTH-JWKS-OUTAGE")
def test_an_endpoint_down_from_the_start_means_no_key_not_a_crash(store, jwks_issuer):
    jwks_issuer.available = False
    assert_unknown(store, jwks_issuer.current_key.kid)
    assert not store.has_fetched


@pytest.mark.req("AUTH-JWKS-OUTAGE")
def test_after_an_outage_the_keys_are_fetched_again(store, jwks_issuer, clock):
    jwks_issuer.available = False
    assert_unknown(store, jwks_issuer.current_key.kid)
    jwks_issuer.available = True
    clock.advance(COOLDOWN)
    assert key_for(store, jwks_issuer.current_key.kid).key_id == jwks_issuer.current_key.kid


@pytest.mark.req("AUTH-ALG-ALLOWLIST", "AUTH-JWKS")
def test_keys_for_algorithms_outside_the_allowlist_are_ignored(jwks_issuer, clock):
    store = make_store(jwks_issuer.jwks_url, clock, algorithms=frozenset({"ES256"}))
    assert_unknown(store, jwks_issuer.current_key.kid)
    assert store.key_count == 0
