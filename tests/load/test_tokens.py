"""The virtual users' credential sources (loadtests/tokens.py): minted through harness.tokens, Better Auth accounts
renewed through /api/auth/token, and tokens files shared round-robin. Better Auth is played here by an in-memory
transport under the harness's real Browser; tests/interop/test_load_with_better_auth.py runs the real one."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness import better_auth
from harness.credentials import secret_minter
from harness.net import free_port
from loadtests import tokens
from loadtests.tokens import (
    SIGN_UP_PATH,
    TOKEN_PATH,
    BetterAuthSource,
    CredentialError,
    FileIdentity,
    FileSource,
    source_from_env,
    write_private_key,
)

SECRET = "load-token-test-secret-0123456789abcdef0123"
BETTER_AUTH = "http://better-auth.test"


def claims_of(token: str) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return decoded


# --- minted sources ---


@pytest.mark.req("LOAD-SLO")
def test_the_secret_source_mints_hs256_tokens_the_server_verifies():
    env = {
        "LOADTEST_TOKEN_SOURCE": "secret",
        "LOADTEST_JWT_SECRET": SECRET,
        "LOADTEST_ISSUER": "https://app.example.test",
        "LOADTEST_AUDIENCE": "https://api.example.test",
    }
    identity = source_from_env(env).identity()
    assert identity.user_id.startswith("load-")
    assert identity.marker == identity.user_id
    claims = jwt.decode(identity.token(), SECRET, algorithms=["HS256"], audience="https://api.example.test")
    assert (claims["sub"], claims["iss"]) == (identity.user_id, "https://app.example.test")
    assert claims["exp"] - claims["iat"] == 900


@pytest.mark.req("LOAD-SLO")
def test_the_jwks_source_mints_eddsa_tokens_with_its_kid(tmp_path: Path):
    key = Ed25519PrivateKey.generate()
    env = {
        "LOADTEST_TOKEN_SOURCE": "jwks",
        "LOADTEST_SIGNING_KEY": str(write_private_key(key, tmp_path / "key.pem")),
        "LOADTEST_KID": "kid-1",
        "LOADTEST_ISSUER": "http://127.0.0.1:9",
        "LOADTEST_TOKEN_TTL": "120",
    }
    identity = source_from_env(env).identity()
    token = identity.token()
    assert jwt.get_unverified_header(token)["kid"] == "kid-1"
    claims = jwt.decode(token, key.public_key(), algorithms=["EdDSA"], audience="http://127.0.0.1:9")
    assert (claims["sub"], claims["iss"], claims["exp"] - claims["iat"]) == (
        identity.user_id,
        env["LOADTEST_ISSUER"],
        120,
    )


@pytest.mark.req("LOAD-SLO")
def test_a_minted_token_is_renewed_only_within_the_renewal_margin():
    env = {"LOADTEST_TOKEN_SOURCE": "secret", "LOADTEST_JWT_SECRET": SECRET}
    counts: Counter[str] = Counter()
    identity = source_from_env(env, counts).identity()
    first = identity.token()
    assert identity.token() == first
    assert counts["tokens_minted"] == 1

    renewing = source_from_env({**env, "LOADTEST_RENEW_MARGIN": "1000"}, counts).identity()  # above the 900 s TTL
    for _ in range(3):
        renewing.token()
    assert counts["tokens_minted"] == 1 + 3


# --- tokens file ---


def tokens_file(tmp_path: Path, *user_ids: str, ttl: int = 900) -> Path:
    path = tmp_path / "tokens.json"
    minter = secret_minter(SECRET)
    users = [{"id": user_id, "token": minter.mint(user_id, ttl=ttl)} for user_id in user_ids]
    path.write_text(json.dumps({"users": users}))
    return path


@pytest.mark.req("LOAD-ISOLATION")
def test_virtual_users_take_the_files_users_round_robin_each_with_its_own_marker(tmp_path: Path):
    source = FileSource(tokens_file(tmp_path, "file-a", "file-b"), margin=120, start=0)
    identities = [source.identity() for _ in range(3)]
    assert [identity.user_id for identity in identities] == ["file-a", "file-b", "file-a"]
    markers = [identity.marker for identity in identities]
    assert len(set(markers)) == 3
    assert all(
        marker.startswith(f"{identity.user_id} vu-") for marker, identity in zip(markers, identities, strict=True)
    )
    assert claims_of(identities[2].token())["sub"] == "file-a"
    assert source.summary() == {"source": "tokens", "users_in_file": 2}


@pytest.mark.req("LOAD-SLO")
def test_a_file_token_is_never_renewed_its_expiry_is_reported_then_it_stops_its_virtual_user(
    caplog: pytest.LogCaptureFixture,
):
    counts: Counter[str] = Counter()
    soon = secret_minter(SECRET).mint("file-a", ttl=100)
    identity = FileIdentity("file-a", soon, "file-a vu-1", "tokens.json", margin=120, counts=counts)
    with caplog.at_level("WARNING", logger="loadtests"):
        assert identity.token() == soon
        assert identity.token() == soon
    assert counts["expiring_tokens"] == 1
    assert "expires in" in caplog.text
    assert "not renewed" in caplog.text

    expired = secret_minter(SECRET).mint("file-a", ttl=-5)
    with pytest.raises(CredentialError, match="has expired") as raised:
        FileIdentity("file-a", expired, "file-a vu-1", "tokens.json", margin=120, counts=counts).token()
    assert raised.value.fatal


# --- better-auth, with the harness's Browser on an in-memory Better Auth ---


class FakeBetterAuth:
    """Sign-up and /api/auth/token as Better Auth answers them; `sign_up_statuses` are answered in turn."""

    def __init__(self, sign_up_statuses: tuple[int, ...] = (200,), ttl: int = 900) -> None:
        self.sign_up_statuses = list(sign_up_statuses)
        self.ttl = ttl
        self.calls: Counter[str] = Counter()
        self.users = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls[request.url.path] += 1
        if request.url.path == SIGN_UP_PATH:
            status = self.sign_up_statuses.pop(0) if len(self.sign_up_statuses) > 1 else self.sign_up_statuses[0]
            if status != 200:
                return httpx.Response(status, json={"message": "no"})
            self.users += 1
            headers = {"set-cookie": f"better-auth.session_token=s{self.users}; Path=/; HttpOnly"}
            return httpx.Response(200, json={"user": {"id": f"ba-user-{self.users}"}}, headers=headers)
        if request.url.path == TOKEN_PATH and "better-auth.session_token" in request.headers.get("cookie", ""):
            user = request.headers["cookie"].split("=s")[-1]
            token = secret_minter(SECRET).mint(f"ba-user-{user}", ttl=self.ttl, jti=str(self.calls[TOKEN_PATH]))
            return httpx.Response(200, json={"token": token})
        return httpx.Response(401, json={})

    def browsers(self) -> Callable[[str], better_auth.Browser]:
        def make(base_url: str, renew_margin: float = better_auth.RENEW_MARGIN_SECONDS) -> better_auth.Browser:
            browser = better_auth.Browser(base_url, renew_margin=renew_margin)
            browser.http = httpx.Client(
                base_url=base_url, transport=httpx.MockTransport(self), headers={"Origin": base_url}
            )
            return browser

        return make


@pytest.mark.req("LOAD-SLO")
def test_a_better_auth_virtual_user_is_its_signed_up_account_and_fetches_its_token_once_while_it_is_fresh():
    server, counts = FakeBetterAuth(), Counter[str]()
    source = BetterAuthSource(BETTER_AUTH, counts, browser_factory=server.browsers())
    identity = source.identity()
    assert identity.user_id == "ba-user-1"
    tokens_seen = {identity.token() for _ in range(5)}
    assert len(tokens_seen) == 1
    assert claims_of(tokens_seen.pop())["sub"] == "ba-user-1"
    assert server.calls[TOKEN_PATH] == counts["token_endpoint_calls"] == 1
    assert counts["sign_ups"] == 1
    identity.close()


@pytest.mark.req("LOAD-SLO")
def test_a_better_auth_token_about_to_expire_is_renewed_through_the_token_endpoint():
    server, counts = FakeBetterAuth(ttl=60), Counter[str]()  # within Better Auth's client margin (120 s)
    identity = BetterAuthSource(BETTER_AUTH, counts, browser_factory=server.browsers()).identity()
    tokens_seen = [identity.token() for _ in range(4)]
    assert server.calls[TOKEN_PATH] == counts["token_endpoint_calls"] == 4
    assert len(set(tokens_seen)) == 4

    server, counts = FakeBetterAuth(ttl=900), Counter[str]()  # LOADTEST_RENEW_MARGIN above the lifetime
    source = source_from_env(
        {
            "LOADTEST_TOKEN_SOURCE": "better-auth",
            "LOADTEST_BETTER_AUTH_URL": BETTER_AUTH,
            "LOADTEST_RENEW_MARGIN": "1000",
        },
        counts,
    )
    assert isinstance(source, BetterAuthSource)
    source.browser_factory = server.browsers()
    identity = source.identity()
    for _ in range(3):
        identity.token()
    assert server.calls[TOKEN_PATH] == counts["token_endpoint_calls"] == 3


@pytest.mark.req("LOAD-SLO")
def test_a_refused_sign_up_stops_the_virtual_user_with_a_reason_at_once():
    server, counts = FakeBetterAuth(sign_up_statuses=(403,)), Counter[str]()
    source = BetterAuthSource(BETTER_AUTH, counts, browser_factory=server.browsers())
    started = time.monotonic()
    with pytest.raises(CredentialError, match=r"did not sign up a virtual user: .*answered 403") as raised:
        source.identity()
    assert time.monotonic() - started < 2
    assert (raised.value.fatal, raised.value.method, raised.value.name) == (True, "POST", SIGN_UP_PATH)
    assert server.calls[SIGN_UP_PATH] == 1


@pytest.mark.req("LOAD-SLO")
def test_an_unreachable_better_auth_stops_the_virtual_user_instead_of_hanging():
    nobody_listens = f"http://127.0.0.1:{free_port()}"
    source = BetterAuthSource(nobody_listens, Counter())
    with pytest.raises(CredentialError, match="did not sign up a virtual user") as raised:
        source.identity()
    assert raised.value.fatal


@pytest.mark.req("LOAD-SLO")
def test_a_rate_limited_sign_up_is_retried_within_its_patience_then_given_up():
    server, counts = FakeBetterAuth(sign_up_statuses=(429, 200)), Counter[str]()
    source = BetterAuthSource(BETTER_AUTH, counts, patience=1.0, browser_factory=server.browsers())
    assert source.identity().user_id == "ba-user-1"
    assert counts["sign_ups_rate_limited"] == 1

    server = FakeBetterAuth(sign_up_statuses=(429,))
    source = BetterAuthSource(BETTER_AUTH, Counter(), patience=0.5, browser_factory=server.browsers())
    started = time.monotonic()
    with pytest.raises(CredentialError, match="answered 429"):
        source.identity()
    assert time.monotonic() - started < 3


@pytest.mark.req("LOAD-SLO")
def test_the_load_runner_has_no_token_minter_of_its_own():
    sources = [path.read_text() for path in Path(tokens.__file__).parent.glob("*.py")]
    assert not any("jwt.encode" in source for source in sources)
