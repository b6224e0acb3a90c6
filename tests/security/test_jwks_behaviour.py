"""The JWKS key cache under rotation, removal, kid bursts, outages and hostile JWKS documents. Each test has its own
issuer and app (short cache lifetime and cooldown), so it can rotate and break keys without touching other tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from harness.checks import INVALID_TOKEN, assert_refused
from harness.forge import eddsa_token, hmac_token
from harness.issuer import SigningKey, TokenIssuer
from harness.listener import Listener
from harness.net import LiveServer
from harness.users import new_user_id

pytestmark = pytest.mark.inprocess


@pytest.fixture
def own_issuer() -> Iterator[TokenIssuer]:
    issuer = TokenIssuer().start()
    yield issuer
    issuer.stop()


ClientFactory = Callable[..., TestClient]


@pytest.fixture
def jwks_client(build_client: ClientFactory, own_issuer: TokenIssuer) -> ClientFactory:
    def build(cache: float = 300, cooldown: float = 30, **env: object) -> TestClient:
        return build_client(
            BETTER_AUTH_URL=own_issuer.base_url,
            JWKS_CACHE_SECONDS=cache,
            JWKS_REFETCH_COOLDOWN_SECONDS=cooldown,
            **env,
        )

    return build


def _list(client: httpx.Client | TestClient, token: str, user_id: str) -> httpx.Response:
    return client.get(f"/api/{user_id}/tasks", headers={"Authorization": f"Bearer {token}"})


def _call(client: httpx.Client | TestClient, issuer: TokenIssuer, key: SigningKey | None = None) -> httpx.Response:
    """A fresh user and a freshly minted token (never in the verified-token cache)."""
    user_id = new_user_id("jwks")
    return _list(client, issuer.mint(user_id, key=key), user_id)


def _jwks_fetches(issuer: TokenIssuer) -> int:
    return issuer.requests.count("/api/auth/jwks")


@pytest.mark.req("AUTH-JWKS-ROTATION", "AUTH-JWKS")
def test_new_kid_published_in_the_jwks_is_accepted_without_restart(jwks_client: ClientFactory, own_issuer: TokenIssuer):
    client = jwks_client(cooldown=0.2)
    assert _call(client, own_issuer).status_code == 200
    own_issuer.rotate()
    time.sleep(0.3)
    assert _call(client, own_issuer).status_code == 200
    assert _jwks_fetches(own_issuer) == 2


@pytest.mark.req("AUTH-JWKS-ROTATION", "AUTH-JWKS-CACHE")
def test_removed_key_is_refused_after_the_cache_lifetime(jwks_client: ClientFactory, own_issuer: TokenIssuer):
    client = jwks_client(cache=1.0, cooldown=0.1)
    old_key = own_issuer.current_key
    user_id = new_user_id("jwks")
    token = own_issuer.mint(user_id)
    assert _list(client, token, user_id).status_code == 200
    own_issuer.rotate()
    own_issuer.keys.remove(old_key)
    assert _list(client, token, user_id).status_code == 200, "keys are trusted for the cache lifetime"
    time.sleep(1.2)
    assert_refused(_list(client, token, user_id), token)
    fresh = own_issuer.mint(user_id, key=old_key)
    assert_refused(_list(client, fresh, user_id), fresh)
    assert _call(client, own_issuer).status_code == 200, "the new key still works"


@pytest.mark.req("AUTH-JWKS-CACHE", "AUTH-KEY-INJECTION")
def test_burst_of_unknown_kids_causes_at_most_one_jwks_fetch_per_cooldown(
    jwks_client: ClientFactory, own_issuer: TokenIssuer
):
    cooldown = 1.0
    app = jwks_client(cooldown=cooldown).app
    attacker = SigningKey(kid="unused")
    user_id = new_user_id("jwks")

    def forged() -> str:
        return eddsa_token({"kid": uuid.uuid4().hex}, own_issuer.claims(user_id), attacker.private)

    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        assert _call(http, own_issuer).status_code == 200
        time.sleep(cooldown + 0.05)  # a refetch is allowed again: the burst may cause exactly one
        before = _jwks_fetches(own_issuer)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(lambda _: _list(http, forged(), user_id), range(60)))
        elapsed = time.monotonic() - started
    fetches = _jwks_fetches(own_issuer) - before
    assert all(response.status_code == 401 for response in responses)
    assert 1 <= fetches <= 1 + int(elapsed / cooldown), f"{fetches} JWKS fetches in {elapsed:.2f}s"


@pytest.mark.req("AUTH-JWKS-OUTAGE", "AUTH-JWKS-CACHE")
def test_cached_keys_keep_working_while_the_jwks_endpoint_is_down(jwks_client: ClientFactory, own_issuer: TokenIssuer):
    client = jwks_client(cache=0.3, cooldown=0.1)
    assert _call(client, own_issuer).status_code == 200
    own_issuer.available = False
    time.sleep(0.4)  # the cache is stale: every verification now tries the dead endpoint first
    for _ in range(3):
        assert _call(client, own_issuer).status_code == 200
        time.sleep(0.15)
    assert own_issuer.requests.count("/api/auth/jwks") >= 2, "the store did try to refresh"


@pytest.mark.req("AUTH-JWKS-OUTAGE", "AUTH-ANY-FAILURE-401", "ERR-401")
def test_unknown_kid_during_an_outage_is_a_401(jwks_client: ClientFactory, own_issuer: TokenIssuer):
    client = jwks_client(cache=0.3, cooldown=0.1)
    assert _call(client, own_issuer).status_code == 200
    own_issuer.available = False
    unknown = SigningKey(kid=uuid.uuid4().hex)
    user_id = new_user_id("jwks")
    token = eddsa_token({"kid": unknown.kid}, own_issuer.claims(user_id), unknown.private)
    assert_refused(_list(client, token, user_id), token, INVALID_TOKEN)


@pytest.mark.req("AUTH-JWKS-OUTAGE", "AUTH-ANY-FAILURE-401", "ERR-401")
def test_jwks_down_from_the_start_refuses_with_401_not_500(jwks_client: ClientFactory, own_issuer: TokenIssuer):
    own_issuer.available = False
    client = jwks_client(cooldown=0)
    user_id = new_user_id("jwks")
    token = own_issuer.mint(user_id)
    assert_refused(_list(client, token, user_id), token)


HOSTILE_JWKS: dict[str, tuple[int, bytes]] = {
    "not-json": (200, b"<html>maintenance</html>"),
    "json-array": (200, b'[{"kty": "OKP"}]'),
    "keys-not-a-list": (200, b'{"keys": "all of them"}'),
    "empty-key-set": (200, b'{"keys": []}'),
    "symmetric-key-only": (200, b'{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "oct", "alg": "HS256"}]}'),
    "oversized": (200, b'{"keys": [], "pad": "' + b"x" * (300 * 1024) + b'"}'),
    "server-error": (500, b"{}"),
    "redirect-to-the-genuine-jwks": (302, b""),  # redirects are not followed: the configured URL is the only source
}


@pytest.mark.req("AUTH-JWKS", "AUTH-ANY-FAILURE-401", "AUTH-KEY-INJECTION", "ERR-401")
@pytest.mark.parametrize(("status", "body"), HOSTILE_JWKS.values(), ids=HOSTILE_JWKS.keys())
def test_hostile_jwks_document_yields_401_never_500(
    build_client: ClientFactory, own_issuer: TokenIssuer, status: int, body: bytes
):
    with Listener(body, status=status, headers={"Location": own_issuer.jwks_url}) as listener:
        client = build_client(BETTER_AUTH_URL=own_issuer.base_url, JWT_JWKS_URL=f"{listener.url}/jwks")
        user_id = new_user_id("jwks")
        for token in (
            own_issuer.mint(user_id),
            hmac_token({"alg": "HS256", "kid": "oct"}, own_issuer.claims(user_id), b"secret"),
        ):
            assert_refused(_list(client, token, user_id), token)
        assert listener.requests, "the configured JWKS URL was consulted"
    assert own_issuer.requests == [], "nothing but the configured JWKS URL was fetched"
