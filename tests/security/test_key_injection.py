"""Key injection: a token can never bring its own key (jwk, x5c), point at one (jku, x5u, a URL in kid), or
abuse `kid` to reach anything but the trusted JWKS. The bait listener must receive zero requests (checked when the
target can reach the harness's loopback, i.e. in-process or a loopback target)."""

from __future__ import annotations

import base64
import datetime
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from harness.forge import eddsa_token
from harness.issuer import SigningKey
from harness.judgements import REFUSAL_REQS
from harness.listener import Listener
from harness.scenes import Victim
from harness.verdicts import PASS, fail

pytestmark = pytest.mark.req("AUTH-KEY-INJECTION", *REFUSAL_REQS, "ERR-401")


@pytest.fixture
def attacker_key() -> SigningKey:
    return SigningKey(kid=f"attacker-{uuid.uuid4().hex}")


@pytest.fixture
def bait(attacker_key: SigningKey) -> Iterator[Listener]:
    """Serves the attacker's key as a JWKS, so a server that followed a URL would accept the forgery."""
    with Listener(json.dumps({"keys": [attacker_key.public_jwk()]}).encode()) as listener:
        yield listener


def _self_signed_certificate(key: SigningKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key.private, None)
    )
    return base64.b64encode(certificate.public_bytes(Encoding.DER)).decode()


# (attacker key, trusted kid, bait URL) -> extra header fields
HeaderCase = Callable[[SigningKey, str, str], dict[str, Any]]

INJECTED_HEADERS: dict[str, HeaderCase] = {
    "embedded-jwk": lambda key, _, __: {"kid": key.kid, "jwk": key.public_jwk()},
    "embedded-jwk-with-trusted-kid": lambda key, trusted, _: {"kid": trusted, "jwk": key.public_jwk()},
    "embedded-x5c": lambda key, _, __: {"kid": key.kid, "x5c": [_self_signed_certificate(key)]},
    "jku": lambda key, _, url: {"kid": key.kid, "jku": f"{url}/jwks.json"},
    "jku-with-trusted-kid": lambda _, trusted, url: {"kid": trusted, "jku": f"{url}/jwks.json"},
    "x5u": lambda key, _, url: {"kid": key.kid, "x5u": f"{url}/cert.pem"},
    "kid-is-a-url": lambda _, __, url: {"kid": f"{url}/jwks.json"},
}


def _reachable(target_url: str | None) -> bool:
    return target_url is None or urlsplit(target_url).hostname in {"127.0.0.1", "localhost", "::1"}


@pytest.mark.parametrize("case", INJECTED_HEADERS.values(), ids=INJECTED_HEADERS.keys())
def test_key_carried_or_pointed_to_by_the_token_is_never_used(
    victim: Victim, minter, judge, target_url, attacker_key: SigningKey, bait: Listener, case: HeaderCase
):
    header = case(attacker_key, minter.trusted_kid or attacker_key.kid, bait.url)
    token = eddsa_token(header, minter.claims(victim.user.id), attacker_key.private)
    response = victim.refuses(judge, "AUTH-KEY-INJECTION", token)
    if _reachable(target_url):
        fetched = fail(f"the server fetched {bait.requests} named by the token") if bait.requests else PASS
        judge.expect("AUTH-KEY-INJECTION", fetched, response)


KID_ABUSE: dict[str, object] = {
    "path-traversal": "../../../../../../etc/passwd",
    "absolute-path": "/dev/null",
    "sql-injection": "' OR '1'='1' --",
    "sql-union": "x' UNION SELECT 'key' --",
    "very-long": "k" * 4000,
    "json-null": None,
    "empty": "",
    "nul-byte": "\x00",
    "numeric": 12345,
    "boolean": True,
    "list": ["kid"],
    "object": {"kid": "x"},
}


@pytest.mark.parametrize("kid", KID_ABUSE.values(), ids=KID_ABUSE.keys())
def test_abusive_kid_is_refused_even_with_a_genuine_signature(victim: Victim, minter, judge, asymmetric, kid: object):
    victim.refuses(judge, "AUTH-KEY-INJECTION", minter.sign(minter.claims(victim.user.id), headers={"kid": kid}))


NEAR_MISSES: dict[str, Callable[[str], str]] = {
    "uppercased": str.upper,
    "leading-space": lambda kid: f" {kid}",
    "trailing-nul": lambda kid: f"{kid}\x00",
    "one-character-short": lambda kid: kid[:-1],
}


@pytest.mark.parametrize("near_miss", NEAR_MISSES.values(), ids=NEAR_MISSES.keys())
def test_near_miss_of_the_trusted_kid_is_refused(
    victim: Victim, minter, judge, asymmetric, near_miss: Callable[[str], str]
):
    kid = near_miss(minter.trusted_kid or "")
    victim.refuses(judge, "AUTH-KEY-INJECTION", minter.sign(minter.claims(victim.user.id), headers={"kid": kid}))
