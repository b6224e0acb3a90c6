"""The one token minter: claims shaped like the target's real tokens, signed the way the target trusts when the
harness holds that key (its own JWKS issuer, or the target's HS256 secret), and forged otherwise.

Against a target whose tokens come from Better Auth or a tokens file the harness holds no signing key: `claims`
and `sign_foreign` still work (forgeries need no key), while `sign`/`mint` report "could not run".
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.exchange import hide_secret
from harness.forge import eddsa_token, hmac_token
from harness.verdicts import could_not_run

DEFAULT_TTL_SECONDS = 900  # Better Auth's JWT lifetime
# Claims every minted token starts from; the identity claims mirror Better Auth's (id = sub).
IDENTITY_CLAIMS = ("sub", "id", "email", "name")
SHARED_SECRET_LABEL = "the target's shared secret (--jwt-secret, not shown)"  # noqa: S105 - a label


class Signer(Protocol):
    @property
    def algorithm(self) -> str: ...

    @property
    def kid(self) -> str | None: ...

    def sign(self, payload: Any, headers: dict[str, Any]) -> str: ...


@dataclass(frozen=True)
class EdDSASigner:
    """An Ed25519 private key the target trusts through a JWKS (the harness issuer's, or a load run's)."""

    private: Ed25519PrivateKey
    kid: str
    label: str = "the harness issuer's key, which the target trusts"
    algorithm: str = "EdDSA"

    def sign(self, payload: Any, headers: dict[str, Any]) -> str:
        header = {"typ": "JWT", "kid": self.kid, **headers}
        return eddsa_token(header, payload, self.private, key_is=f"{self.label} (kid {self.kid})")


@dataclass(frozen=True)
class HS256Signer:
    """The target's shared secret (BETTER_AUTH_SECRET); the secret itself is never shown anywhere."""

    secret: str | bytes
    kid: str | None = None
    algorithm: str = "HS256"

    @property
    def key(self) -> bytes:
        return self.secret if isinstance(self.secret, bytes) else self.secret.encode()

    def __post_init__(self) -> None:
        hide_secret(self.key.decode(errors="replace"))

    def sign(self, payload: Any, headers: dict[str, Any]) -> str:
        header = {"alg": "HS256", "typ": "JWT", **headers}
        return hmac_token(header, payload, self.key, key_is=SHARED_SECRET_LABEL)


def standard_claims(sub: Any, ttl: int, issuer: str | None, audience: str | None) -> dict[str, Any]:
    """Better Auth's access-token claims: sub, the user's id/email/name, iss, aud, iat, exp."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + ttl}
    if isinstance(sub, str):
        claims |= {"id": sub, "email": f"{sub}@example.test", "name": sub}
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience
    return claims


@dataclass
class Minter:
    """Tokens for chosen claims. `signer` is None when the harness cannot sign as the target trusts."""

    signer: Signer | None
    issuer: str | None = None  # the iss and aud the target expects, when known
    audience: str | None = None
    algorithm: str = "EdDSA"  # the family the target verifies
    trusted_kid: str | None = None  # a kid the target's JWKS publishes
    trusted_jwks: dict[str, Any] | None = None  # the target's public JWKS, when known
    why_unsigned: str = "the harness holds no key the target trusts"
    extra: dict[str, Any] = field(default_factory=dict)  # other claims real tokens carry

    @property
    def asymmetric(self) -> bool:
        return self.algorithm != "HS256"

    @property
    def can_sign(self) -> bool:
        return self.signer is not None

    def claims(self, sub: Any, ttl: int = DEFAULT_TTL_SECONDS, **overrides: Any) -> dict[str, Any]:
        return {**self.extra, **standard_claims(sub, ttl, self.issuer, self.audience), **overrides}

    def sign(self, payload: Any, headers: dict[str, Any] | None = None) -> str:
        if self.signer is None:
            could_not_run(f"needs a token signed the way the target trusts, and {self.why_unsigned}")
        return self.signer.sign(payload, headers or {})

    def mint(
        self,
        sub: Any,
        *,
        ttl: int = DEFAULT_TTL_SECONDS,
        drop: tuple[str, ...] = (),
        headers: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        claims = self.claims(sub, ttl, **overrides)
        for name in drop:
            claims.pop(name, None)
        return self.sign(claims, headers)

    def sign_foreign(self, payload: Any, headers: dict[str, Any] | None = None) -> str:
        """Signed by a key the target does not trust, labelled exactly like a trusted one (same alg, same kid)."""
        if not self.asymmetric:
            header = {"alg": "HS256", "typ": "JWT", **(headers or {})}
            return hmac_token(
                header, payload, secrets.token_bytes(32), key_is="a random secret the target does not know"
            )
        header = {"typ": "JWT", **({"kid": self.trusted_kid} if self.trusted_kid else {}), **(headers or {})}
        return eddsa_token(
            header, payload, Ed25519PrivateKey.generate(), key_is="a fresh key the target does not trust"
        )
