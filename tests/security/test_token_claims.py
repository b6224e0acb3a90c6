"""Claims and time: exp, iat, sub (and iss, aud in JWKS mode) are required and checked, with at most 30 s of
leeway. Every token here carries a genuine signature by the trusted key: only the claims are wrong."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from harness.scenes import Victim
from harness.tokens import Minter

TokenCase = Callable[[Minter, str], str]
LEEWAY = 30


def _now() -> int:
    return int(time.time())


def _claims(drop: tuple[str, ...] = (), **overrides: object) -> TokenCase:
    return lambda minter, sub: minter.mint(sub, drop=drop, **overrides)


def _at(**offsets: int) -> TokenCase:
    """Time claims at now + offset seconds; `iat` defaults to ten minutes ago so only the named claim matters."""
    return lambda minter, sub: minter.mint(sub, **{"iat": _now() - 600, **{k: _now() + v for k, v in offsets.items()}})


def _issuer_variant(claim: str, change: Callable[[str], object]) -> TokenCase:
    def build(minter: Minter, sub: str) -> str:
        return minter.mint(sub, **{claim: change(minter.issuer.base_url)})

    return build


TIME_REFUSED: dict[str, TokenCase] = {
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
    "nbf-in-the-future": _at(nbf=LEEWAY + 90, exp=3600),
    "iat-in-the-future": _at(iat=LEEWAY + 90, exp=3600),
    "iat-missing": _claims(drop=("iat",)),
    "iat-text": _claims(iat="yesterday"),
    "iat-numeric-string": _claims(iat="0"),
    "iat-absurdly-large-integer": _claims(iat=10**400),
    "nbf-text": _claims(nbf="now"),
}

TIME_ACCEPTED: dict[str, TokenCase] = {
    "expired-within-leeway": _at(exp=-(LEEWAY - 15)),
    "iat-slightly-in-the-future": _at(iat=LEEWAY - 15, exp=3600),
    "nbf-slightly-in-the-future": _at(nbf=LEEWAY - 15, exp=3600),
    "nbf-in-the-past": _at(nbf=-60, exp=3600),
}

SUBJECT_REFUSED: dict[str, TokenCase] = {
    "sub-missing": _claims(drop=("sub",)),
    "sub-empty": lambda minter, _: minter.mint(""),
    "sub-null": lambda minter, _: minter.mint(None),
    "sub-number": lambda minter, _: minter.mint(12345),
    "sub-boolean": lambda minter, _: minter.mint(True),
    "sub-list": lambda minter, sub: minter.mint([sub]),
    "sub-object": lambda minter, sub: minter.mint({"id": sub}),
    "sub-with-control-character": lambda minter, sub: minter.mint(f"{sub}\n"),
    "sub-too-long": lambda minter, sub: minter.mint(sub + "x" * 300),
}

CRITICAL_HEADERS: dict[str, TokenCase] = {
    "crit-exp": lambda minter, sub: minter.mint(sub, headers={"crit": ["exp"]}),
    "crit-unknown-extension": lambda minter, sub: minter.mint(sub, headers={"crit": ["x-admin"], "x-admin": True}),
    "crit-b64-false": lambda minter, sub: minter.mint(sub, headers={"crit": ["b64"], "b64": False}),
    "crit-empty-list": lambda minter, sub: minter.mint(sub, headers={"crit": []}),
}

ISSUER_AUDIENCE_REFUSED: dict[str, TokenCase] = {
    "iss-missing": _claims(drop=("iss",)),
    "iss-different": _claims(iss="https://evil.example"),
    "iss-prefix-of-expected": _issuer_variant("iss", lambda url: url[:-1]),
    "iss-expected-plus-suffix": _issuer_variant("iss", lambda url: f"{url}.evil.example"),
    "iss-trailing-slash": _issuer_variant("iss", lambda url: f"{url}/"),
    "iss-as-list": _issuer_variant("iss", lambda url: [url]),
    "aud-missing": _claims(drop=("aud",)),
    "aud-different": _claims(aud="https://evil.example"),
    "aud-prefix-of-expected": _issuer_variant("aud", lambda url: url[:-1]),
    "aud-expected-plus-suffix": _issuer_variant("aud", lambda url: f"{url}.evil.example"),
    "aud-list-of-others": _claims(aud=["https://evil.example", "https://other.example"]),
    "aud-empty-list": _claims(aud=[]),
}


@pytest.mark.req("AUTH-TIME", "AUTH-REQUIRED-CLAIMS", "AUTH-ANY-FAILURE-401", "ERR-401", "ERR-NO-LEAK")
@pytest.mark.parametrize("case", TIME_REFUSED.values(), ids=TIME_REFUSED.keys())
def test_bad_time_claim_is_refused(victim: Victim, minter: Minter, case: TokenCase):
    victim.assert_refuses(case(minter, victim.user.id))


@pytest.mark.req("AUTH-TIME")
@pytest.mark.parametrize("case", TIME_ACCEPTED.values(), ids=TIME_ACCEPTED.keys())
def test_clock_skew_within_leeway_is_accepted(victim: Victim, minter: Minter, case: TokenCase):
    victim.assert_accepts(case(minter, victim.user.id))


@pytest.mark.req("AUTH-REQUIRED-CLAIMS", "AUTH-ANY-FAILURE-401", "ERR-401", "ERR-NO-LEAK")
@pytest.mark.parametrize("case", SUBJECT_REFUSED.values(), ids=SUBJECT_REFUSED.keys())
def test_missing_or_invalid_subject_is_refused(victim: Victim, minter: Minter, case: TokenCase):
    victim.assert_refuses(case(minter, victim.user.id))


@pytest.mark.req("AUTH-ANY-FAILURE-401", "ERR-401", "ERR-NO-LEAK")
@pytest.mark.parametrize("case", CRITICAL_HEADERS.values(), ids=CRITICAL_HEADERS.keys())
def test_critical_header_is_refused(victim: Victim, minter: Minter, case: TokenCase):
    victim.assert_refuses(case(minter, victim.user.id))


@pytest.mark.req("AUTH-ISS-AUD", "AUTH-REQUIRED-CLAIMS", "ERR-401", "ERR-NO-LEAK")
@pytest.mark.parametrize("case", ISSUER_AUDIENCE_REFUSED.values(), ids=ISSUER_AUDIENCE_REFUSED.keys())
def test_wrong_or_missing_issuer_or_audience_is_refused(
    victim: Victim, minter: Minter, jwks_mode: None, case: TokenCase
):
    victim.assert_refuses(case(minter, victim.user.id))


@pytest.mark.req("AUTH-ISS-AUD")
def test_audience_list_containing_the_expected_value_is_accepted(victim: Victim, minter: Minter, jwks_mode: None):
    victim.assert_accepts(minter.mint(victim.user.id, aud=["https://other.example", minter.issuer.base_url]))
