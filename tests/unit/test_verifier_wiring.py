"""build_verifier wires the settings into a verifier: checked end to end, token in, principal or AuthError out.

The app builds its verifier once per session, so these tests build their own: each wiring choice then runs inside
the test that depends on it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backend.auth.dev_keys import load_or_create_dev_key, mint_dev_token
from backend.auth.verifier import AuthError, JwksVerifier, TokenVerifier, build_verifier
from backend.settings import Settings
from harness.calls import refusal, verify
from harness.issuer import TokenIssuer


@pytest.mark.req("AUTH-JWKS-CACHE")
def test_the_key_store_uses_the_configured_jwks_timeout() -> None:
    settings = Settings(BETTER_AUTH_URL="http://127.0.0.1:9", JWKS_TIMEOUT_SECONDS=0.7)  # type: ignore[call-arg]
    verifier = build_verifier(settings)
    assert isinstance(verifier, JwksVerifier)
    assert verifier.key_store.timeout_seconds == 0.7


@pytest.mark.req("AUTH-JWKS")
def test_a_jwks_verifier_accepts_the_issuers_token(jwks_verifier: TokenVerifier, jwks_issuer: TokenIssuer) -> None:
    assert verify(jwks_verifier, jwks_issuer.mint("wired-user")).user_id == "wired-user"


@pytest.mark.req("AUTH-ISS-AUD")
def test_a_jwks_verifier_checks_the_issuer(jwks_verifier: TokenVerifier, jwks_issuer: TokenIssuer) -> None:
    assert refusal(jwks_verifier, jwks_issuer.mint("u", iss="https://other.example")) == "wrong issuer"


@pytest.mark.req("AUTH-ISS-AUD")
def test_a_jwks_verifier_checks_the_audience(jwks_verifier: TokenVerifier, jwks_issuer: TokenIssuer) -> None:
    assert refusal(jwks_verifier, jwks_issuer.mint("u", aud="https://other.example")) == "wrong audience"


@pytest.mark.req("AUTH-DEV-MODE")
def test_dev_mode_accepts_tokens_signed_by_the_local_key(tmp_path: Path) -> None:
    settings = Settings(TODO_DATA_DIR=str(tmp_path))  # type: ignore[call-arg]
    verifier = build_verifier(settings)
    token = mint_dev_token(load_or_create_dev_key(settings.dev_key_path), "dev-user", 600)
    assert verify(verifier, token).user_id == "dev-user"


@pytest.mark.req("AUTH-DEV-MODE", "AUTH-SIGNATURE")
def test_dev_mode_refuses_tokens_signed_by_another_key(tmp_path: Path) -> None:
    verifier = build_verifier(Settings(TODO_DATA_DIR=str(tmp_path)))  # type: ignore[call-arg]
    token = mint_dev_token(Ed25519PrivateKey.generate(), "dev-user", 600)
    assert refusal(verifier, token) == "signature verification failed"


@pytest.mark.req("AUTH-ANY-FAILURE-401")
def test_an_auth_error_reads_as_its_reason() -> None:
    error = AuthError("token expired")
    assert (error.reason, str(error), error.args) == ("token expired", "token expired", ("token expired",))
