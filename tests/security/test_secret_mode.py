"""BETTER_AUTH_SECRET mode: only HS256 access tokens signed with the configured secret are accepted. Weak, empty and
Better Auth's published fallback secrets forge nothing; other Better Auth JWTs sharing the secret are not access
tokens. In-process this runs against a secret-mode app; in target mode against a target started with the secret."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from backend.settings import Settings
from harness.cleanup import delete_all_tasks
from harness.forge import hmac_token
from harness.issuer import TokenIssuer
from harness.scenes import Victim, make_victim
from harness.tokens import Minter
from harness.users import ApiUser, new_user_id

IN_PROCESS_SECRET = "in-process-secret-mode-test-secret-0123456789"
# Better Auth's published fallback (src/utils/constants.ts DEFAULT_SECRET) and its pre-1.0 value.
BETTER_AUTH_FALLBACKS = ("better-auth-secret-12345678901234567890", "better-auth-secret-123456789")
WEAK_SECRETS = {
    "empty": "",
    "secret": "secret",
    "password": "password",
    "changeme": "changeme",
    "jwt-io-example": "your-256-bit-secret",
    "your-secret-key": "your-secret-key",
    "supersecretkey": "supersecretkey",
    "better-auth-fallback": BETTER_AUTH_FALLBACKS[0],
    "better-auth-fallback-pre-1.0": BETTER_AUTH_FALLBACKS[1],
    "thirty-two-zeros": "0" * 32,
}


@pytest.fixture
def secret_minter(request: pytest.FixtureRequest, target_url: str | None, jwt_secret: str | None) -> Minter:
    issuer: TokenIssuer = request.getfixturevalue("issuer")
    if target_url and not jwt_secret:
        pytest.skip("secret-mode attacks need a secret-mode target (--jwt-secret)")
    return Minter(issuer, jwt_secret or IN_PROCESS_SECRET)


@pytest.fixture
def secret_victim(request: pytest.FixtureRequest, target_url: str | None, secret_minter: Minter) -> Iterator[Victim]:
    if target_url:
        client = request.getfixturevalue("client")
    else:
        client = request.getfixturevalue("build_client")(BETTER_AUTH_SECRET=IN_PROCESS_SECRET)
    user_id = new_user_id("secret-victim")
    victim = make_victim(client, ApiUser(id=user_id, token=secret_minter.mint(user_id)))
    yield victim
    if target_url:
        delete_all_tasks(client, victim.user)


@pytest.mark.req("AUTH-SECRET", "ERR-401", "ERR-NO-LEAK")
@pytest.mark.parametrize("weak", WEAK_SECRETS.values(), ids=WEAK_SECRETS.keys())
def test_token_signed_with_a_weak_or_published_secret_is_refused(
    secret_victim: Victim, secret_minter: Minter, weak: str
):
    claims = secret_minter.claims(secret_victim.user.id)
    secret_victim.assert_refuses(hmac_token({"alg": "HS256", "typ": "JWT"}, claims, weak.encode()))


def _now() -> int:
    return int(time.time())


# Other JWTs Better Auth signs with the same secret: none is an access token, none names a subject.
NON_ACCESS_TOKENS: dict[str, Callable[[str], dict[str, Any]]] = {
    "email-verification": lambda uid: {"email": f"{uid}@example.test", "iat": _now(), "exp": _now() + 3600},
    "change-email-verification": lambda uid: {
        "email": f"{uid}@example.test",
        "updateTo": "attacker@evil.example",
        "iat": _now(),
        "exp": _now() + 3600,
    },
    "session-cookie-cache": lambda uid: {
        "session": {"userId": uid, "token": "opaque"},
        "user": {"id": uid, "email": f"{uid}@example.test"},
        "iat": _now(),
        "exp": _now() + 300,
    },
}


@pytest.mark.req("AUTH-SECRET", "AUTH-REQUIRED-CLAIMS", "ERR-401", "ERR-NO-LEAK")
@pytest.mark.parametrize("payload", NON_ACCESS_TOKENS.values(), ids=NON_ACCESS_TOKENS.keys())
def test_non_access_better_auth_jwt_signed_with_the_real_secret_is_refused(
    secret_victim: Victim, secret_minter: Minter, payload: Callable[[str], dict[str, Any]]
):
    secret_victim.assert_refuses(secret_minter.sign(payload(secret_victim.user.id)))


OTHER_ALGORITHMS: dict[str, Callable[[Minter, str], str]] = {
    "hs384-with-the-real-secret": lambda m, sub: m.sign(m.claims(sub), headers={"alg": "HS384"}),
    "hs512-with-the-real-secret": lambda m, sub: m.sign(m.claims(sub), headers={"alg": "HS512"}),
    "jwks-issued-eddsa-token": lambda m, sub: m.issuer.mint(sub),
}


@pytest.mark.req("AUTH-SECRET", "AUTH-ALG-ALLOWLIST", "ERR-401", "ERR-NO-LEAK")
@pytest.mark.parametrize("case", OTHER_ALGORITHMS.values(), ids=OTHER_ALGORITHMS.keys())
def test_secret_mode_accepts_hs256_only(
    secret_victim: Victim, secret_minter: Minter, case: Callable[[Minter, str], str]
):
    secret_victim.assert_refuses(case(secret_minter, secret_victim.user.id))


@pytest.mark.req("AUTH-SECRET")
def test_hs256_token_signed_with_the_configured_secret_is_accepted(secret_victim: Victim, secret_minter: Minter):
    secret_victim.assert_accepts(secret_minter.mint(secret_victim.user.id))


@pytest.mark.inprocess
@pytest.mark.req("AUTH-SECRET", "AUTH-CONFIG")
@pytest.mark.parametrize("secret", BETTER_AUTH_FALLBACKS)
def test_better_auth_fallback_secret_is_refused_as_configuration(secret: str):
    with pytest.raises(ValidationError, match=r"published fallback secret|at least 32 bytes"):
        Settings(BETTER_AUTH_SECRET=secret)
