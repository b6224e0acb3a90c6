"""Dev mode: a local Ed25519 signing key in the data directory, and tokens minted with it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backend.settings import DEV_ISSUER

DEV_KID = "todo-api-dev"


def load_or_create_dev_key(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    # O_EXCL: two processes racing to create the key must not overwrite each other's.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_or_create_dev_key(path)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


def mint_dev_token(key: Ed25519PrivateKey, user_id: str, ttl_seconds: int) -> str:
    now = int(time.time())
    claims = {
        "sub": user_id,
        "id": user_id,
        "iss": DEV_ISSUER,
        "aud": DEV_ISSUER,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": DEV_KID})
