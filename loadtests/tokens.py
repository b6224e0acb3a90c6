"""Tokens for virtual users, from the same sources as the spec suite's target mode.

The runner describes the source in LOADTEST_* environment variables, so every Locust process (master, local
workers, workers on other machines) mints its own tokens without talking to anything:

- jwks / dev: LOADTEST_SIGNING_KEY (an Ed25519 private key, PEM), LOADTEST_KID, LOADTEST_ISSUER (iss and aud).
  jwks is the harness's own issuer (harness/issuer.py) that the server trusts through BETTER_AUTH_URL;
  dev is the server's dev-mode key in its TODO_DATA_DIR (kid and issuer "todo-api-dev").
- secret: LOADTEST_JWT_SECRET (the server's BETTER_AUTH_SECRET, HS256), optional LOADTEST_ISSUER/LOADTEST_AUDIENCE.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

TOKEN_SOURCES = ("jwks", "secret", "dev")
DEFAULT_TTL_SECONDS = 900  # Better Auth's default JWT lifetime
DEV_KID = "todo-api-dev"  # backend.auth.dev_keys.DEV_KID / DEV_ISSUER


@dataclass(frozen=True)
class Minted:
    token: str
    expires_at: float


Minter = Callable[[str], Minted]


def _claims(sub: str, ttl: int, issuer: str | None, audience: str | None) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "id": sub, "email": f"{sub}@load.test", "iat": now, "exp": now + ttl}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return claims


def ed25519_minter(key_path: Path, kid: str, issuer: str, ttl: int = DEFAULT_TTL_SECONDS) -> Minter:
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{key_path} does not hold an Ed25519 private key")

    def mint(sub: str) -> Minted:
        claims = _claims(sub, ttl, issuer, issuer)
        return Minted(jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid}), claims["exp"])

    return mint


def secret_minter(secret: str, issuer: str | None, audience: str | None, ttl: int = DEFAULT_TTL_SECONDS) -> Minter:
    def mint(sub: str) -> Minted:
        claims = _claims(sub, ttl, issuer, audience)
        return Minted(jwt.encode(claims, secret, algorithm="HS256"), claims["exp"])

    return mint


def minter_from_env(env: Mapping[str, str]) -> Minter:
    source = env.get("LOADTEST_TOKEN_SOURCE", "")
    ttl = int(env.get("LOADTEST_TOKEN_TTL", DEFAULT_TTL_SECONDS))
    if source == "secret":
        return secret_minter(env["LOADTEST_JWT_SECRET"], env.get("LOADTEST_ISSUER"), env.get("LOADTEST_AUDIENCE"), ttl)
    if source in {"jwks", "dev"}:
        return ed25519_minter(Path(env["LOADTEST_SIGNING_KEY"]), env["LOADTEST_KID"], env["LOADTEST_ISSUER"], ttl)
    raise ValueError(f"LOADTEST_TOKEN_SOURCE must be one of {', '.join(TOKEN_SOURCES)} (got {source!r})")


def write_private_key(key: Ed25519PrivateKey, path: Path) -> Path:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.touch(mode=0o600)
    path.write_bytes(pem)
    return path
