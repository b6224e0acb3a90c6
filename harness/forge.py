"""Hand-assembled JWS tokens for attacks that a JWT library refuses to produce (alg none, HMAC with a PEM key,
non-object payloads, absurd claim values). Each records how it was signed, for findings (harness/exchange.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from harness.exchange import derive, remember

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
    token = f"{unsigned(header, payload)}.{b64url(signature)}"
    return remember(token, "unsigned (empty signature)" if not signature else "a signature the harness made up")


def hmac_token(header: dict[str, Any], payload: Any, key: bytes, key_is: str | None = None) -> str:
    """An HMAC-signed JWS with any key at all (PyJWT refuses PEM-looking and empty keys). The hash follows the
    header's `alg` when it names one, else SHA-256, so a header can lie about the algorithm. `key_is` says what the
    key is, for findings (default: the key itself, quoted, when it is short printable text)."""
    signing_input = unsigned(header, payload)
    hash_name = str(header.get("alg")) if str(header.get("alg")) in _HMAC_HASHES else "HS256"
    digest = hmac.new(key, signing_input.encode(), _HMAC_HASHES[hash_name]).digest()
    shown = key_is or (f"the key {key.decode()!r}" if len(key) <= 64 and key.isascii() else f"a {len(key)}-byte key")
    return remember(f"{signing_input}.{b64url(digest)}", f"HMAC ({hash_name}) keyed with {shown}")


def eddsa_token(
    header: dict[str, Any], payload: Any, private: Ed25519PrivateKey, key_is: str = "a key of the attacker's"
) -> str:
    """An EdDSA-signed JWS over any payload (a dict is JSON-encoded; bytes are signed as they are)."""
    signing_input = unsigned({"alg": "EdDSA", **header}, payload)
    token = f"{signing_input}.{b64url(private.sign(signing_input.encode()))}"
    return remember(token, f"EdDSA, signed by {key_is}")


def segments(token: str) -> list[str]:
    return token.split(".")


_SEGMENT_NAMES = ("header", "payload", "signature")


def with_segment(token: str, index: int, value: str) -> str:
    parts = segments(token)
    parts[index] = value
    return derive(token, ".".join(parts), f"its {_SEGMENT_NAMES[index]} segment replaced")


def decoded_payload(token: str) -> dict[str, Any]:
    payload: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return payload


def public_key_renderings(jwk: dict[str, Any], jwks: dict[str, Any]) -> dict[str, bytes]:
    """Every way a confused verifier might turn the trusted public key (an Ed25519 JWK) into an HMAC secret."""
    public = Ed25519PublicKey.from_public_bytes(_unb64(str(jwk["x"])))
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
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


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


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
