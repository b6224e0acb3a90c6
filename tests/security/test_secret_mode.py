"""HS256 secrets: a token HMAC-signed with an empty, weak or published secret is refused by any target, whatever it
verifies with. In BETTER_AUTH_SECRET mode only HS256 access tokens signed with the configured secret are accepted:
other Better Auth JWTs sharing the secret are not access tokens. In-process this runs against a secret-mode app;
against a target, the checks that need its secret run only with --jwt-secret."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from backend.settings import Settings
from harness.attacks import AttackContext, attack_params
from harness.credentials import secret_minter as hs256_minter
from harness.forge import hmac_token
from harness.scenes import Victim, make_victim
from harness.tokens import Minter
from harness.users import ApiUser, new_user_id
from harness.verdicts import could_not_run

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
def secret_minter(target_url: str | None, minter: Minter) -> Minter:
    """The target's own HS256 secret: the in-process app's, or --jwt-secret's."""
    if not target_url:
        return hs256_minter(IN_PROCESS_SECRET)
    if minter.asymmetric or not minter.can_sign:
        could_not_run("needs the target's HS256 secret (--jwt-secret)")
    return minter


@pytest.fixture
def secret_victim(request: pytest.FixtureRequest, target_url: str | None, make_user, client) -> Victim:
    """In-process: a user of a secret-mode app; against a target: an ordinary victim of it."""
    if target_url:
        return make_victim(client, make_user("secret-victim"))
    app_client = request.getfixturevalue("build_client")(BETTER_AUTH_SECRET=IN_PROCESS_SECRET)
    user_id = new_user_id("secret-victim")
    return make_victim(app_client, ApiUser(user_id, hs256_minter(IN_PROCESS_SECRET).mint(user_id)))


def _weak(secret: str) -> Callable[[AttackContext], str]:
    def build(ctx: AttackContext) -> str:
        return hmac_token({"alg": "HS256", "typ": "JWT"}, ctx.minter.claims(ctx.sub), secret.encode())

    return build


@pytest.mark.parametrize(
    ("requirement", "build"),
    attack_params("AUTH-WEAK-SECRET", {k: _weak(v) for k, v in WEAK_SECRETS.items()}, "ERR-401"),
)
def test_token_signed_with_a_weak_or_published_secret_is_refused(
    secret_victim: Victim, minter, make_user, judge, requirement, build
):
    secret_victim.refuses(judge, requirement, build(AttackContext(minter, secret_victim.user, make_user)))


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


@pytest.mark.parametrize(
    ("requirement", "build"),
    attack_params("AUTH-NON-ACCESS-TOKEN", NON_ACCESS_TOKENS, "ERR-401"),
)
def test_non_access_better_auth_jwt_signed_with_the_real_secret_is_refused(
    secret_victim: Victim, secret_minter: Minter, judge, requirement, build
):
    secret_victim.refuses(judge, requirement, secret_minter.sign(build(secret_victim.user.id)))


OTHER_ALGORITHMS: dict[str, Callable[[Minter, str], str]] = {
    "hs384-with-the-real-secret": lambda m, sub: m.sign(m.claims(sub), headers={"alg": "HS384"}),
    "hs512-with-the-real-secret": lambda m, sub: m.sign(m.claims(sub), headers={"alg": "HS512"}),
}


@pytest.mark.parametrize(
    ("requirement", "build"), attack_params("AUTH-ALG-ALLOWLIST", OTHER_ALGORITHMS, "AUTH-SECRET", "ERR-401")
)
def test_secret_mode_accepts_hs256_only(secret_victim: Victim, secret_minter: Minter, judge, requirement, build):
    secret_victim.refuses(judge, requirement, build(secret_minter, secret_victim.user.id))


@pytest.mark.req("AUTH-SIGNATURE", "AUTH-SECRET", "ERR-NO-LEAK", "ERR-NO-POISON", "AUTH-ANY-FAILURE-401")
def test_secret_mode_refuses_a_token_from_an_untrusted_issuer(secret_victim: Victim, secret_minter, issuer, judge):
    """The harness issuer's EdDSA token means nothing to a server that trusts only its HS256 secret."""
    token = issuer.mint(secret_victim.user.id)
    secret_victim.refuses(judge, "AUTH-SIGNATURE", token)


@pytest.mark.req("AUTH-SECRET")
def test_hs256_token_signed_with_the_configured_secret_is_accepted(secret_victim: Victim, secret_minter, judge):
    secret_victim.accepts(judge, "AUTH-SECRET", secret_minter.mint(secret_victim.user.id))


@pytest.mark.inprocess
@pytest.mark.req("AUTH-CONFIG")
@pytest.mark.parametrize("secret", BETTER_AUTH_FALLBACKS)
def test_better_auth_fallback_secret_is_refused_as_configuration(secret: str):
    with pytest.raises(ValidationError, match=r"published fallback secret|at least 32 bytes"):
        Settings(BETTER_AUTH_SECRET=secret)
