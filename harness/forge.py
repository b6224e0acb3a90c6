"""Hand-assembled JWS tokens for attacks that a JWT library refuses to produce (alg none, HMAC with a PEM key,
non-object payloads, absurd claim values)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from harness.issuer import SigningKey

_HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
HMAC_ALGORITHMS = tuple(_HMAC_HASHES)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def _segment(value: Any) -> str:
    return b64url(value) if isinstance(value, bytes) else b64url_json(value)


def unsigned(header: Any, payload: Any) -> str:
    """`header.payload` (the signing input); dicts are JSON-encoded, bytes are taken verbatim."""
    return f"{_segment(header)}.{_segment(payload)}"


def assemble(header: Any, payload: Any, signature: bytes = b"") -> str:
    return f"{unsigned(header, payload)}.{b64url(signature)}"


def hmac_token(header: dict[str, Any], payload: Any, key: bytes) -> str:
    """An HMAC-signed JWS with any key at all (PyJWT refuses PEM-looking and empty keys). The hash follows the
    header's `alg` when it names one, else SHA-256, so a header can lie about the algorithm."""
    signing_input = unsigned(header, payload)
    digest = hmac.new(key, signing_input.encode(), _HMAC_HASHES.get(str(header.get("alg")), hashlib.sha256)).digest()
    return f"{signing_input}.{b64url(digest)}"


def eddsa_token(header: dict[str, Any], payload: Any, private: Ed25519PrivateKey) -> str:
    """An EdDSA-signed JWS over any payload (a dict is JSON-encoded; bytes are signed as they are)."""
    signing_input = unsigned({"alg": "EdDSA", **header}, payload)
    return f"{signing_input}.{b64url(private.sign(signing_input.encode()))}"


def segments(token: str) -> list[str]:
    return token.split(".")


def with_segment(token: str, index: int, value: str) -> str:
    parts = segments(token)
    parts[index] = value
    return ".".join(parts)


def decoded_payload(token: str) -> dict[str, Any]:
    payload: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return payload


def public_key_renderings(key: SigningKey, jwks: dict[str, Any]) -> dict[str, bytes]:
    """Every way a confused verifier might turn the trusted public key into an HMAC secret."""
    public = key.private.public_key()
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    jwk = key.public_jwk()
    return {
        "jwk-json": json.dumps(jwk).encode(),
        "jwk-json-compact": json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode(),
        "jwks-document": json.dumps(jwks).encode(),
        "raw-bytes": raw,
        "base64url-bytes": b64url(raw).encode(),
        "pem-lf": pem,
        "pem-crlf": pem.replace(b"\n", b"\r\n"),
        "pem-no-final-newline": pem.rstrip(b"\n"),
        "der": public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo),
    }


RENDERINGS = (
    "jwk-json",
    "jwk-json-compact",
    "jwks-document",
    "raw-bytes",
    "base64url-bytes",
    "pem-lf",
    "pem-crlf",
    "pem-no-final-newline",
    "der",
)
