"""Signatures: only a genuine signature by a trusted key, over exactly the payload presented, with an allowed
algorithm, is accepted. Every forged token impersonates the victim and tries to overwrite the victim's task."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.forge import (
    HMAC_ALGORITHMS,
    RENDERINGS,
    assemble,
    b64url,
    b64url_json,
    hmac_token,
    public_key_renderings,
    segments,
    with_segment,
)
from harness.scenes import Victim
from harness.tokens import Minter

TokenCase = Callable[[Minter, str], str]

NONE_SPELLINGS = ("none", "None", "NONE", "nOnE")


def _alg_none(alg: str, keep_signature: bool) -> TokenCase:
    def build(minter: Minter, sub: str) -> str:
        header = {"alg": alg, "typ": "JWT", "kid": minter.issuer.current_key.kid}
        unsigned = assemble(header, minter.claims(sub))
        return unsigned + segments(minter.mint(sub))[2] if keep_signature else unsigned

    return build


def _swap_payload(minter: Minter, sub: str) -> str:
    """The attacker's own valid token with the payload rewritten to say `sub: victim`."""
    genuine = minter.mint(f"attacker-of-{sub}")
    return with_segment(genuine, 1, b64url_json(minter.claims(sub)))


def _flip_last_signature_char(minter: Minter, sub: str) -> str:
    token = minter.mint(sub)
    signature = segments(token)[2]
    return with_segment(token, 2, signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1])


SIGNATURE_CASES: dict[str, TokenCase] = {
    **{f"alg-{alg}-no-signature": _alg_none(alg, keep_signature=False) for alg in NONE_SPELLINGS},
    **{f"alg-{alg}-with-signature": _alg_none(alg, keep_signature=True) for alg in NONE_SPELLINGS},
    "empty-signature": lambda minter, sub: with_segment(minter.mint(sub), 2, ""),
    "zeroed-signature": lambda minter, sub: with_segment(minter.mint(sub), 2, b64url(bytes(64))),
    "truncated-signature": lambda minter, sub: minter.mint(sub)[:-6],
    "one-character-changed-signature": _flip_last_signature_char,
    "fresh-key-with-trusted-kid": lambda minter, sub: minter.sign_foreign(minter.claims(sub)),
    "payload-changed-after-signing": _swap_payload,
}


@pytest.mark.req("AUTH-SIGNATURE", "AUTH-ALG-ALLOWLIST", "ERR-401", "ERR-NO-LEAK")
@pytest.mark.parametrize("case", SIGNATURE_CASES.values(), ids=SIGNATURE_CASES.keys())
def test_forged_or_tampered_signature_is_refused(victim: Victim, minter: Minter, case: TokenCase):
    victim.assert_refuses(case(minter, victim.user.id))


def _labelled(alg: object) -> TokenCase:
    """A genuine signature by the trusted key, under a header that names another (or no) algorithm."""
    return lambda minter, sub: minter.sign(minter.claims(sub), headers={"alg": alg})


def _alg_absent(minter: Minter, sub: str) -> str:
    genuine = minter.mint(sub)
    header = {"typ": "JWT", "kid": minter.issuer.current_key.kid}
    return with_segment(genuine, 0, b64url_json(header))


MISLABELLED_ALGORITHMS: dict[str, TokenCase] = {
    "lowercase-eddsa": _labelled("eddsa"),
    "ed25519": _labelled("Ed25519"),
    "es256": _labelled("ES256"),
    "rs256": _labelled("RS256"),
    "hs512": _labelled("HS512"),
    "empty-alg": _labelled(""),
    "null-alg": _labelled(None),
    "list-alg": _labelled(["EdDSA", "HS256"]),
    "alg-absent": _alg_absent,
}


@pytest.mark.req("AUTH-ALG-ALLOWLIST", "ERR-401", "ERR-NO-LEAK")
@pytest.mark.parametrize("case", MISLABELLED_ALGORITHMS.values(), ids=MISLABELLED_ALGORITHMS.keys())
def test_header_naming_a_disallowed_algorithm_is_refused(victim: Victim, minter: Minter, case: TokenCase):
    victim.assert_refuses(case(minter, victim.user.id))


@pytest.mark.req("AUTH-ALG-ALLOWLIST", "AUTH-JWKS", "ERR-401", "ERR-NO-LEAK")
@pytest.mark.parametrize("rendering", RENDERINGS)
@pytest.mark.parametrize("alg", HMAC_ALGORITHMS)
def test_hmac_signed_with_the_trusted_public_key_is_refused(
    victim: Victim, minter: Minter, jwks_mode: None, alg: str, rendering: str
):
    issuer = minter.issuer
    key = public_key_renderings(issuer.current_key, issuer.jwks())[rendering]
    header = {"alg": alg, "typ": "JWT", "kid": issuer.current_key.kid}
    victim.assert_refuses(hmac_token(header, minter.claims(victim.user.id), key))


@pytest.mark.req("AUTH-SIGNATURE", "ERR-401")
def test_genuine_token_is_accepted_as_a_control(victim: Victim, minter: Minter):
    """The forgeries above differ from this token only in what each case changes."""
    victim.assert_accepts(minter.mint(victim.user.id))
