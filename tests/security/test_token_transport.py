"""How a token may arrive: one `Authorization: Bearer <token>` header and nothing else; structurally broken tokens
are refused before any key is looked at."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.checks import REALM_ONLY
from harness.forge import b64url, b64url_json, segments, with_segment
from harness.scenes import Victim
from harness.tokens import Minter

HeaderCase = Callable[[str], list[tuple[str, str]]]

# Each case gets the victim's own *valid* token: only the way it is presented is wrong.
MALFORMED_HEADERS: dict[str, HeaderCase] = {
    "basic-scheme": lambda _: [("Authorization", "Basic dmljdGltOnBhc3N3b3Jk")],
    "token-scheme": lambda token: [("Authorization", f"Token {token}")],
    "jwt-scheme": lambda token: [("Authorization", f"JWT {token}")],
    "no-scheme": lambda token: [("Authorization", token)],
    "empty-header": lambda _: [("Authorization", "")],
    "bearer-without-value": lambda _: [("Authorization", "Bearer")],
    "bearer-tab-separator": lambda token: [("Authorization", f"Bearer\t{token}")],
    "two-values-in-one-header": lambda token: [("Authorization", f"Bearer {token}, Bearer {token}")],
    "two-authorization-headers": lambda token: [
        ("Authorization", f"Bearer {token}"),
        ("Authorization", f"Bearer {token}"),
    ],
    "trailing-garbage": lambda token: [("Authorization", f"Bearer {token} extra")],
    "quoted-token": lambda token: [("Authorization", f'Bearer "{token}"')],
    "illegal-characters": lambda token: [("Authorization", f"Bearer {token};admin=true")],
}


@pytest.mark.req("AUTH-HEADER-PARSING", "ERR-401", "ERR-NO-LEAK")
def test_request_without_credentials_gets_a_realm_only_challenge(victim: Victim):
    victim.assert_refuses(challenge=REALM_ONLY)


@pytest.mark.req("AUTH-HEADER-PARSING", "ERR-401", "ERR-NO-LEAK")
@pytest.mark.parametrize("case", MALFORMED_HEADERS.values(), ids=MALFORMED_HEADERS.keys())
def test_malformed_authorization_header_is_refused(victim: Victim, case: HeaderCase):
    token = victim.user.token
    response = victim.assert_refuses(headers=case(token))
    # The valid token itself must not come back either (assert_refuses only knows the headers).
    assert token not in response.text


@pytest.mark.req("AUTH-HEADER-PARSING", "ERR-401", "ERR-NO-LEAK")
def test_token_only_in_query_string_is_ignored(victim: Victim):
    token = victim.user.token
    response = victim.assert_refuses(headers={}, params={"access_token": token}, challenge=REALM_ONLY)
    assert token not in response.text


@pytest.mark.req("AUTH-HEADER-PARSING", "ERR-401", "ERR-NO-LEAK")
def test_token_only_in_form_body_is_ignored(victim: Victim):
    token = victim.user.token
    response = victim.client.put(victim.task_url, data={"access_token": token, "title": "pwned"})
    assert response.status_code == 401
    assert REALM_ONLY.fullmatch(response.headers["www-authenticate"])
    assert token not in response.text
    victim.assert_untouched()


@pytest.mark.req("AUTH-HEADER-PARSING", "ERR-401", "ERR-NO-LEAK")
def test_64_kib_token_is_refused(victim: Victim, minter: Minter):
    token = minter.mint(victim.user.id, padding="x" * (48 * 1024))
    assert len(token) >= 64 * 1024
    victim.assert_refuses(token)


TokenCase = Callable[[Minter, str], str]


def _signed_payload(raw: bytes) -> TokenCase:
    """A correctly signed token whose payload is valid JSON but not a claims object."""
    return lambda minter, _: minter.sign(raw)


STRUCTURAL_JUNK: dict[str, TokenCase] = {
    "one-segment": lambda minter, sub: segments(minter.mint(sub))[1],
    "two-segments": lambda minter, sub: ".".join(segments(minter.mint(sub))[:2]),
    "four-segments": lambda minter, sub: minter.mint(sub) + ".AAAA",
    "five-segments-jwe-shape": lambda minter, sub: ".".join(
        [b64url_json({"alg": "dir", "enc": "A256GCM"}), "", b64url(b"iv"), segments(minter.mint(sub))[1], "tag"]
    ),
    "empty-segments": lambda *_: "..",
    "non-json-header": lambda minter, sub: with_segment(minter.mint(sub), 0, b64url(b"not json")),
    "array-header": lambda minter, sub: with_segment(minter.mint(sub), 0, b64url_json(["EdDSA"])),
    "header-not-base64": lambda minter, sub: with_segment(minter.mint(sub), 0, "e30_-e30_-AAAA~"),
    "payload-not-base64": lambda minter, sub: with_segment(minter.mint(sub), 1, "~~~~"),
    "signed-array-payload": _signed_payload(b'["sub", "victim"]'),
    "signed-string-payload": _signed_payload(b'"victim"'),
    "signed-number-payload": _signed_payload(b"12345"),
    "signed-null-payload": _signed_payload(b"null"),
    "signed-non-json-payload": _signed_payload(b"sub=victim"),
    "signed-empty-payload": _signed_payload(b""),
}


@pytest.mark.req("AUTH-SIGNATURE", "AUTH-ANY-FAILURE-401", "ERR-401", "ERR-NO-LEAK")
@pytest.mark.parametrize("case", STRUCTURAL_JUNK.values(), ids=STRUCTURAL_JUNK.keys())
def test_structurally_broken_token_is_refused(victim: Victim, minter: Minter, case: TokenCase):
    victim.assert_refuses(case(minter, victim.user.id))
