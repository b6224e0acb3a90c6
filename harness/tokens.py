"""The one token minter: arbitrary claims signed the way the server under test trusts."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.forge import eddsa_token, hmac_token
from harness.issuer import TokenIssuer


@dataclass
class Minter:
    """Signs arbitrary claims the way the server under test trusts: the issuer's EdDSA key or the HS256 secret."""

    issuer: TokenIssuer
    secret: str | None = None

    def claims(self, sub: Any, ttl: int = 900, **overrides: Any) -> dict[str, Any]:
        if self.secret is None:
            return self.issuer.claims(sub, ttl, **overrides)
        now = int(time.time())
        return {"sub": sub, "iat": now, "exp": now + ttl, **overrides}

    def sign(self, payload: Any, headers: dict[str, Any] | None = None) -> str:
        if self.secret is not None:
            return hmac_token({"alg": "HS256", "typ": "JWT", **(headers or {})}, payload, self.secret.encode())
        key = self.issuer.current_key
        return eddsa_token({"typ": "JWT", "kid": key.kid, **(headers or {})}, payload, key.private)

    def sign_foreign(self, payload: Any, headers: dict[str, Any] | None = None) -> str:
        """Signed by a key the server does not trust, labelled exactly like a trusted one (same alg, same kid)."""
        if self.secret is not None:
            return hmac_token({"alg": "HS256", "typ": "JWT", **(headers or {})}, payload, secrets.token_bytes(32))
        kid = self.issuer.current_key.kid
        return eddsa_token({"typ": "JWT", "kid": kid, **(headers or {})}, payload, Ed25519PrivateKey.generate())

    def mint(
        self,
        sub: Any,
        *,
        ttl: int = 900,
        drop: tuple[str, ...] = (),
        headers: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        claims = self.claims(sub, ttl, **overrides)
        for name in drop:
            claims.pop(name, None)
        return self.sign(claims, headers)
