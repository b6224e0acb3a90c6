"""Claims and time: exp, iat, sub (and iss, aud where expected) are required and checked, with at most 30 s of
leeway; the caller is the token's sub and nothing else. Every token here carries a genuine signature by the trusted
key: only the claims are wrong (so against a target whose key the harness lacks, these could not run)."""

from __future__ import annotations

import time

import pytest

from harness.attacks import AttackContext, TokenCase, attack_params
from harness.scenes import Victim
from harness.verdicts import could_not_run

LEEWAY = 30


def _now() -> int:
    return int(time.time())


def _claims(drop: tuple[str, ...] = (), **overrides: object) -> TokenCase:
    return lambda ctx: ctx.minter.mint(ctx.sub, drop=drop, **overrides)


def _at(**offsets: int) -> TokenCase:
    """Time claims at now + offset seconds; `iat` defaults to ten minutes ago so only the named claim matters."""
    return lambda ctx: ctx.minter.mint(ctx.sub, **{"iat": _now() - 600, **{k: _now() + v for k, v in offsets.items()}})


def _expected(claim: str, change: object) -> TokenCase:
    """The expected iss or aud, changed by `change` (a function of the expected value)."""

    def build(ctx: AttackContext) -> str:
        expected = ctx.minter.issuer if claim == "iss" else ctx.minter.audience
        if expected is None:
            could_not_run(f"the target's expected {claim} is unknown (give --jwt-issuer/--jwt-audience)")
        return ctx.minter.mint(ctx.sub, **{claim: change(expected) if callable(change) else change})

    return build


EXPIRY = {
    "expired-beyond-leeway": _at(exp=-(LEEWAY + 20)),
    "expired-long-ago": _at(exp=-86_400),
    "exp-missing": _claims(drop=("exp",)),
    "exp-text": _claims(exp="tomorrow"),
    "exp-numeric-string": _claims(exp="9999999999"),
    "exp-null": _claims(exp=None),
    "exp-list": _claims(exp=[9999999999]),
    "exp-infinity": _claims(exp=float("inf")),
    "exp-nan": _claims(exp=float("nan")),
    "exp-absurdly-large-integer": _claims(exp=10**400),
}
ISSUED_AT = {
    "iat-in-the-future": _at(iat=LEEWAY + 90, exp=3600),
    "iat-missing": _claims(drop=("iat",)),
    "iat-text": _claims(iat="yesterday"),
    "iat-numeric-string": _claims(iat="0"),
    "iat-absurdly-large-integer": _claims(iat=10**400),
}
NOT_BEFORE = {
    "nbf-in-the-future": _at(nbf=LEEWAY + 90, exp=3600),
    "nbf-text": _claims(nbf="now"),
}
SUBJECT = {
    "sub-missing": _claims(drop=("sub",)),
    "sub-empty": lambda ctx: ctx.minter.mint(""),
    "sub-null": lambda ctx: ctx.minter.mint(None),
    "sub-number": lambda ctx: ctx.minter.mint(12345),
    "sub-boolean": lambda ctx: ctx.minter.mint(True),
    "sub-list": lambda ctx: ctx.minter.mint([ctx.sub]),
    "sub-object": lambda ctx: ctx.minter.mint({"id": ctx.sub}),
    "sub-with-control-character": lambda ctx: ctx.minter.mint(f"{ctx.sub}\n"),
    "sub-too-long": lambda ctx: ctx.minter.mint(ctx.sub + "x" * 300),
}
CRITICAL_HEADERS = {
    "crit-exp": lambda ctx: ctx.minter.mint(ctx.sub, headers={"crit": ["exp"]}),
    "crit-unknown-extension": lambda ctx: ctx.minter.mint(ctx.sub, headers={"crit": ["x-admin"], "x-admin": True}),
    "crit-b64-false": lambda ctx: ctx.minter.mint(ctx.sub, headers={"crit": ["b64"], "b64": False}),
    "crit-empty-list": lambda ctx: ctx.minter.mint(ctx.sub, headers={"crit": []}),
}


def _another_identity(**claims_naming_victim: object) -> TokenCase:
    """The attacker's own genuine token (sub = attacker) whose other identity claims name the victim."""

    def build(ctx: AttackContext) -> str:
        attacker = ctx.users("attacker").id
        named = {k: ctx.sub if v == "VICTIM" else {"id": ctx.sub} for k, v in claims_naming_victim.items()}
        return ctx.minter.mint(attacker, **named)

    return build


IDENTITY = {
    "id-names-the-victim": _another_identity(id="VICTIM"),
    "user-id-names-the-victim": _another_identity(user="OBJECT"),
    "userId-names-the-victim": _another_identity(userId="VICTIM"),
    "user_id-names-the-victim": _another_identity(user_id="VICTIM"),
    "uid-names-the-victim": _another_identity(uid="VICTIM"),
    "name-names-the-victim": _another_identity(name="VICTIM"),
}
ISSUER_AUDIENCE = {
    "iss-missing": _claims(drop=("iss",)),
    "iss-different": _expected("iss", "https://evil.example"),
    "iss-prefix-of-expected": _expected("iss", lambda url: url[:-1]),
    "iss-expected-plus-suffix": _expected("iss", lambda url: f"{url}.evil.example"),
    "iss-trailing-slash": _expected("iss", lambda url: f"{url}/"),
    "iss-as-list": _expected("iss", lambda url: [url]),
    "aud-missing": _claims(drop=("aud",)),
    "aud-different": _expected("aud", "https://evil.example"),
    "aud-prefix-of-expected": _expected("aud", lambda url: url[:-1]),
    "aud-expected-plus-suffix": _expected("aud", lambda url: f"{url}.evil.example"),
    "aud-list-of-others": _expected("aud", ["https://evil.example", "https://other.example"]),
    "aud-empty-list": _expected("aud", []),
}
REFUSED = (
    attack_params("AUTH-EXPIRY", EXPIRY, "ERR-401")
    + attack_params("AUTH-IAT", ISSUED_AT, "ERR-401")
    + attack_params("AUTH-NBF", NOT_BEFORE, "ERR-401")
    + attack_params("AUTH-SUBJECT", SUBJECT, "ERR-401")
    + attack_params("AUTH-CRIT", CRITICAL_HEADERS, "ERR-401")
)


@pytest.mark.parametrize(("requirement", "build"), REFUSED)
def test_token_with_unusable_claims_is_refused(victim: Victim, minter, make_user, judge, requirement, build):
    victim.refuses(judge, requirement, build(AttackContext(minter, victim.user, make_user)))


@pytest.mark.parametrize(("requirement", "build"), attack_params("AUTH-IDENTITY-CLAIM", IDENTITY, "ERR-403"))
def test_identity_claims_other_than_sub_never_decide_the_caller(
    victim: Victim, minter, make_user, judge, requirement, build
):
    """A valid token for the attacker stays the attacker's, whatever else it says: on the victim's path it is a 403."""
    victim.refuses(judge, requirement, build(AttackContext(minter, victim.user, make_user)), forbidden=True)


@pytest.mark.parametrize(("requirement", "build"), attack_params("AUTH-ISS-AUD", ISSUER_AUDIENCE, "ERR-401"))
def test_wrong_or_missing_issuer_or_audience_is_refused(victim: Victim, minter, make_user, judge, requirement, build):
    if minter.issuer is None and minter.audience is None:
        could_not_run("the target checks no iss/aud the harness knows of (secret mode without --jwt-issuer)")
    victim.refuses(judge, requirement, build(AttackContext(minter, victim.user, make_user)))


ACCEPTED = {
    "expired-within-leeway": _at(exp=-(LEEWAY - 15)),
    "iat-slightly-in-the-future": _at(iat=LEEWAY - 15, exp=3600),
    "nbf-slightly-in-the-future": _at(nbf=LEEWAY - 15, exp=3600),
    "nbf-in-the-past": _at(nbf=-60, exp=3600),
}


@pytest.mark.req("AUTH-LEEWAY")
@pytest.mark.parametrize("build", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_clock_skew_within_leeway_is_accepted(victim: Victim, minter, make_user, judge, build):
    victim.accepts(judge, "AUTH-LEEWAY", build(AttackContext(minter, victim.user, make_user)))


@pytest.mark.req("AUTH-JWKS")
def test_audience_list_containing_the_expected_value_is_accepted(victim: Victim, minter, judge, asymmetric):
    victim.accepts(judge, "AUTH-JWKS", minter.mint(victim.user.id, aud=["https://other.example", minter.audience]))
