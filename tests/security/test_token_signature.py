"""Signatures: only a genuine signature by a trusted key, over exactly the payload presented, with an allowed
algorithm, is accepted. Every forged token impersonates the victim and tries to overwrite the victim's task.

Tampering starts from the victim's own genuine token, so it runs whatever the credential source; relabelling a
genuine signature needs the target's key and could not run without it."""

from __future__ import annotations

from typing import Any

import pytest

from harness.attacks import AttackContext, TokenCase, attack_params
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
from harness.verdicts import could_not_run

NONE_SPELLINGS = ("none", "None", "NONE", "nOnE")


def _header(ctx: AttackContext, **fields: Any) -> dict[str, Any]:
    kid = {"kid": ctx.minter.trusted_kid} if ctx.minter.trusted_kid else {}
    return {"typ": "JWT", **kid, **fields}


def _alg_none(alg: str, keep_signature: bool) -> TokenCase:
    def build(ctx: AttackContext) -> str:
        unsigned = assemble(_header(ctx, alg=alg), ctx.minter.claims(ctx.sub))
        return unsigned + segments(ctx.genuine)[2] if keep_signature else unsigned

    return build


def _swap_payload(ctx: AttackContext) -> str:
    """The attacker's own genuine token with the payload rewritten to say `sub: victim`."""
    attacker = ctx.users("attacker")
    return with_segment(attacker.token, 1, b64url_json(ctx.minter.claims(ctx.sub)))


def _flip_last_signature_char(ctx: AttackContext) -> str:
    signature = segments(ctx.genuine)[2]
    return with_segment(ctx.genuine, 2, signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1])


FORGED = {
    "empty-signature": lambda ctx: with_segment(ctx.genuine, 2, ""),
    "zeroed-signature": lambda ctx: with_segment(ctx.genuine, 2, b64url(bytes(64))),
    "truncated-signature": lambda ctx: with_segment(ctx.genuine, 2, segments(ctx.genuine)[2][:-6]),
    "one-character-changed-signature": _flip_last_signature_char,
    "fresh-key-with-trusted-kid": lambda ctx: ctx.minter.sign_foreign(ctx.minter.claims(ctx.sub)),
    "payload-changed-after-signing": _swap_payload,
}
UNSIGNED = {
    **{f"alg-{alg}-no-signature": _alg_none(alg, keep_signature=False) for alg in NONE_SPELLINGS},
    **{f"alg-{alg}-with-signature": _alg_none(alg, keep_signature=True) for alg in NONE_SPELLINGS},
}


def _labelled(alg: object) -> TokenCase:
    """A genuine signature by the trusted key, under a header that names another (or no) algorithm."""
    return lambda ctx: ctx.minter.sign(ctx.minter.claims(ctx.sub), headers={"alg": alg})


def _alg_absent(ctx: AttackContext) -> str:
    return with_segment(ctx.genuine, 0, b64url_json(_header(ctx)))


MISLABELLED = {
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
REFUSED = (
    attack_params("AUTH-SIGNATURE", FORGED, "ERR-401")
    + attack_params("AUTH-ALG-ALLOWLIST", UNSIGNED, "ERR-401")
    + attack_params("AUTH-ALG-ALLOWLIST", MISLABELLED, "ERR-401")
)


@pytest.mark.parametrize(("requirement", "build"), REFUSED)
def test_forged_unsigned_or_mislabelled_token_is_refused(victim: Victim, minter, make_user, judge, requirement, build):
    victim.refuses(judge, requirement, build(AttackContext(minter, victim.user, make_user)))


def _trusted_jwk(minter) -> dict[str, Any]:
    jwks = minter.trusted_jwks or {}
    keys = [k for k in jwks.get("keys", []) if isinstance(k, dict) and k.get("kid") == minter.trusted_kid]
    if not keys or keys[0].get("kty") != "OKP":
        could_not_run("needs the target's public Ed25519 key (its JWKS could not be read)")
    return keys[0]


@pytest.mark.req("AUTH-ALG-ALLOWLIST", "ERR-401", "ERR-NO-LEAK", "AUTH-ANY-FAILURE-401", "ERR-STATUS-CLASSES")
@pytest.mark.parametrize("rendering", RENDERINGS)
@pytest.mark.parametrize("alg", HMAC_ALGORITHMS)
def test_hmac_signed_with_the_trusted_public_key_is_refused(
    victim: Victim, minter, judge, asymmetric, alg: str, rendering: str
):
    jwk = _trusted_jwk(minter)
    key = public_key_renderings(jwk, minter.trusted_jwks)[rendering]
    header = {"alg": alg, "typ": "JWT", "kid": minter.trusted_kid}
    token = hmac_token(header, minter.claims(victim.user.id), key, key_is=f"the target's public key ({rendering})")
    victim.refuses(judge, "AUTH-ALG-ALLOWLIST", token)
