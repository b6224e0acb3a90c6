"""Each refusal names the check that failed: the fixed `error_description` phrases of specs/refusal-reasons.md, one
per check, so a client (and a reviewer) can tell an expired token from a forged one, and a check that silently stops
running shows up here as a different phrase. Real JWTs, real keys, a real JWKS endpoint on loopback."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import ECAlgorithm

from backend.auth.verifier import MAX_KID_CHARS, MAX_TOKEN_CHARS, build_verifier
from backend.settings import Settings
from harness.calls import refusal
from harness.credentials import secret_minter
from harness.forge import eddsa_token, hmac_token, unsigned
from harness.issuer import TokenIssuer

SECRET = "0123456789abcdef0123456789abcdef-refusals"


def signed(issuer: TokenIssuer, header: dict[str, Any], **claims: Any) -> str:
    """An EdDSA token from the issuer's current key, with any header fields (kid defaults to the trusted one)."""
    payload = issuer.claims("refused-user", **claims)
    return eddsa_token({"kid": issuer.current_key.kid, **header}, payload, issuer.current_key.private)


@pytest.mark.req("ERR-401-REASON", "AUTH-HEADER-PARSING")
def test_a_token_over_the_length_limit_is_too_long(jwks_verifier):
    assert refusal(jwks_verifier, "a" * (MAX_TOKEN_CHARS + 1)) == "token too long"


@pytest.mark.req("ERR-401-REASON", "AUTH-HEADER-PARSING")
def test_a_token_at_the_length_limit_is_parsed(jwks_verifier):
    assert refusal(jwks_verifier, "a" * MAX_TOKEN_CHARS) == "malformed token"


@pytest.mark.req("ERR-401-REASON", "AUTH-ALG-ALLOWLIST")
def test_an_hmac_token_against_eddsa_keys_is_an_algorithm_not_allowed(jwks_verifier):
    assert refusal(jwks_verifier, hmac_token({"alg": "HS256", "typ": "JWT"}, {"sub": "x"}, b"k")) == (
        "algorithm not allowed"
    )


@pytest.mark.req("ERR-401-REASON", "AUTH-KEY-INJECTION")
def test_a_crit_header_is_an_unsupported_critical_header(jwks_verifier, jwks_issuer):
    # PyJWT itself refuses unknown extensions; "b64" (RFC 7797) it knows, so the verifier's own refusal is the one met.
    token = signed(jwks_issuer, {"crit": ["b64"], "b64": True})
    assert refusal(jwks_verifier, token) == "unsupported critical header"


@pytest.mark.req("ERR-401-REASON", "AUTH-KEY-INJECTION")
@pytest.mark.parametrize("kid", ["", "k" * (MAX_KID_CHARS + 1)], ids=["empty", "too-long"])
def test_an_empty_or_overlong_kid_is_a_missing_or_invalid_key_id(jwks_verifier, jwks_issuer, kid):
    assert refusal(jwks_verifier, signed(jwks_issuer, {"kid": kid})) == "missing or invalid key id"


@pytest.mark.req("ERR-401-REASON", "AUTH-KEY-INJECTION")
@pytest.mark.parametrize("kid", [None, 7], ids=["null", "numeric"])
def test_a_kid_that_is_not_a_string_is_a_malformed_token(jwks_verifier, jwks_issuer, kid):
    assert refusal(jwks_verifier, signed(jwks_issuer, {"kid": kid})) == "malformed token"


@pytest.mark.req("ERR-401-REASON", "AUTH-KEY-INJECTION")
@pytest.mark.parametrize("kid", ["unknown", "k" * MAX_KID_CHARS], ids=["unknown", "at-the-length-limit"])
def test_a_well_formed_kid_that_is_not_published_is_an_unknown_signing_key(jwks_verifier, jwks_issuer, kid):
    assert refusal(jwks_verifier, signed(jwks_issuer, {"kid": kid})) == "unknown signing key"


@dataclass
class P256Key:
    """A published ECDSA P-256 key, for a deployment that allows the ES family."""

    kid: str = "p256"
    private: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}


@pytest.mark.req("ERR-401-REASON", "AUTH-ALG-ALLOWLIST")
def test_a_key_used_with_another_allowed_algorithm_is_an_algorithm_mismatch(jwks_issuer):
    key = P256Key()
    jwks_issuer.keys.append(key)  # type: ignore[arg-type]  # the JWKS only calls kid and public_jwk()
    settings = Settings(BETTER_AUTH_URL=jwks_issuer.base_url, JWT_ALGORITHMS="ES256,ES384")  # type: ignore[call-arg]
    # Never signed: the key's own algorithm is compared with the header's before any signature is checked.
    token = f"{unsigned({'alg': 'ES384', 'kid': key.kid}, jwks_issuer.claims('u'))}.c2ln"
    assert refusal(build_verifier(settings), token) == "algorithm does not match key"


@pytest.mark.req("ERR-401-REASON", "AUTH-SIGNATURE")
def test_a_signature_from_another_key_is_a_failed_signature(jwks_verifier, jwks_issuer):
    payload = jwks_issuer.claims("u")
    forged = eddsa_token({"kid": jwks_issuer.current_key.kid}, payload, Ed25519PrivateKey.generate())
    assert refusal(jwks_verifier, forged) == "signature verification failed"


@pytest.mark.req("ERR-401-REASON", "AUTH-EXPIRY")
def test_a_token_expired_beyond_the_leeway_is_expired(jwks_verifier, jwks_issuer):
    assert refusal(jwks_verifier, jwks_issuer.mint("u", exp=int(time.time()) - 120)) == "token expired"


@pytest.mark.req("ERR-401-REASON", "AUTH-NBF", "AUTH-IAT")
@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_a_token_from_the_future_is_not_yet_valid(jwks_verifier, jwks_issuer, claim):
    assert refusal(jwks_verifier, jwks_issuer.mint("u", **{claim: int(time.time()) + 600})) == "token not yet valid"


@pytest.mark.req("ERR-401-REASON", "AUTH-ISS-AUD")
def test_an_issuer_that_is_only_a_prefix_is_a_wrong_issuer(jwks_verifier, jwks_issuer):
    assert refusal(jwks_verifier, jwks_issuer.mint("u", iss=jwks_issuer.base_url[:-1])) == "wrong issuer"


@pytest.mark.req("ERR-401-REASON", "AUTH-ISS-AUD")
def test_an_audience_list_without_ours_is_a_wrong_audience(jwks_verifier, jwks_issuer):
    assert refusal(jwks_verifier, jwks_issuer.mint("u", aud=["https://other.example"])) == "wrong audience"


@pytest.mark.req("ERR-401-REASON", "AUTH-EXPIRY", "AUTH-IAT", "AUTH-SUBJECT")
@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "iss", "aud"])
def test_a_token_without_a_required_claim_is_a_missing_claim(jwks_verifier, jwks_issuer, claim):
    assert refusal(jwks_verifier, jwks_issuer.mint("u", drop=(claim,))) == "missing claim"


@pytest.mark.req("ERR-401-REASON", "AUTH-ANY-FAILURE-401")
def test_a_payload_that_is_not_an_object_is_an_invalid_token(jwks_verifier, jwks_issuer):
    token = eddsa_token({"kid": jwks_issuer.current_key.kid}, b"[1, 2]", jwks_issuer.current_key.private)
    assert refusal(jwks_verifier, token) == "invalid token"


@pytest.mark.req("ERR-401-REASON", "AUTH-EXPIRY")
def test_a_string_exp_is_an_invalid_time_claim(jwks_verifier, jwks_issuer):
    # PyJWT int()s a numeric string and would accept it; RFC 7519 wants a JSON number.
    assert refusal(jwks_verifier, jwks_issuer.mint("u", exp=str(int(time.time()) + 600))) == "invalid time claim"


@pytest.mark.req("ERR-401-REASON", "AUTH-SUBJECT")
def test_an_empty_subject_is_an_invalid_subject(jwks_verifier, jwks_issuer):
    assert refusal(jwks_verifier, jwks_issuer.mint("")) == "invalid subject"


@pytest.mark.req("AUTH-SECRET", "AUTH-ISS-AUD")
def test_in_secret_mode_without_a_configured_audience_the_aud_claim_is_not_checked():
    settings = Settings(BETTER_AUTH_SECRET=SECRET)  # type: ignore[call-arg]
    token = secret_minter(SECRET).mint("s", ttl=60, aud="anything")
    assert asyncio.run(build_verifier(settings).verify(token)).user_id == "s"
