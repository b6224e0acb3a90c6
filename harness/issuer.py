"""A Better Auth-compatible token issuer for tests: Ed25519 keys, a JWKS served on loopback, minted tokens.

A target deployment only has to trust `jwks_url` (BETTER_AUTH_URL = `base_url`) to accept its tokens.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from harness.tokens import DEFAULT_TTL_SECONDS, EdDSASigner, standard_claims


@dataclass
class SigningKey:
    kid: str
    private: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": "EdDSA", "use": "sig"}


class _JwksHandler(BaseHTTPRequestHandler):
    server: _JwksServer

    def do_GET(self) -> None:
        issuer = self.server.issuer
        issuer.requests.append(self.path)
        if self.path != "/api/auth/jwks" or not issuer.available:
            self.send_response(404 if issuer.available else 503)
            self.end_headers()
            return
        body = json.dumps(issuer.jwks()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _JwksServer(ThreadingHTTPServer):
    daemon_threads = True
    issuer: TokenIssuer


class TokenIssuer:
    """Mints EdDSA tokens the way Better Auth's JWT plugin does, and serves their JWKS."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.keys: list[SigningKey] = [SigningKey(kid=uuid.uuid4().hex)]
        self.available = True
        self.requests: list[str] = []
        self._server = _JwksServer((host, port), _JwksHandler)
        self._server.issuer = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> TokenIssuer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._server.server_address[1]}"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/api/auth/jwks"

    @property
    def current_key(self) -> SigningKey:
        return self.keys[-1]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self.keys]}

    def rotate(self) -> SigningKey:
        """Add a new key and sign with it from now on (old keys stay published, as Better Auth does)."""
        self.keys.append(SigningKey(kid=uuid.uuid4().hex))
        return self.current_key

    def claims(self, sub: Any, ttl: int = DEFAULT_TTL_SECONDS, **overrides: Any) -> dict[str, Any]:
        return {**standard_claims(sub, ttl, self.base_url, self.base_url), **overrides}

    def mint(
        self,
        sub: Any,
        *,
        ttl: int = DEFAULT_TTL_SECONDS,
        key: SigningKey | None = None,
        headers: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
        **claim_overrides: Any,
    ) -> str:
        """A token as Better Auth's JWT plugin makes it, signed by `key` (default: the current one)."""
        key = key or self.current_key
        claims = self.claims(sub, ttl, **claim_overrides)
        for name in drop:
            claims.pop(name, None)
        return EdDSASigner(key.private, key.kid).sign(claims, headers or {})
