"""How a token may arrive: one `Authorization: Bearer <token>` header and nothing else; structurally broken tokens
are refused before any key is looked at.

Only what lets a request through without a usable token is a security matter; which framings of a valid token this
backend refuses (another scheme, a tab, a doubled header) is its own choice, judged in the reference layer."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness import checks
from harness.attacks import AttackContext, attack_params
from harness.forge import b64url, b64url_json, segments, with_segment
from harness.judgements import REFUSAL_REQS, Watch, refused_token
from harness.scenes import Victim

HeaderCase = Callable[[str], list[tuple[str, str]]]

# No usable token at all: accepting any of these serves a request nobody authenticated.
WITHOUT_A_TOKEN: dict[str, HeaderCase] = {
    "basic-scheme": lambda _: [("Authorization", "Basic dmljdGltOnBhc3N3b3Jk")],
    "empty-header": lambda _: [("Authorization", "")],
    "bearer-without-value": lambda _: [("Authorization", "Bearer")],
}
# The victim's own *valid* token, framed wrongly: refusing these is this backend's choice.
MISFRAMED: dict[str, HeaderCase] = {
    "token-scheme": lambda token: [("Authorization", f"Token {token}")],
    "jwt-scheme": lambda token: [("Authorization", f"JWT {token}")],
    "no-scheme": lambda token: [("Authorization", token)],
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


@pytest.mark.req("AUTH-CREDENTIALS-REQUIRED", *REFUSAL_REQS, "ERR-401")
def test_request_without_credentials_is_refused_with_a_realm_only_challenge(victim: Victim, judge):
    victim.refuses(judge, "AUTH-CREDENTIALS-REQUIRED", challenge=checks.REALM_ONLY)


@pytest.mark.req("AUTH-CREDENTIALS-REQUIRED", *REFUSAL_REQS, "ERR-401")
@pytest.mark.parametrize("case", WITHOUT_A_TOKEN.values(), ids=WITHOUT_A_TOKEN.keys())
def test_authorization_header_without_a_token_is_refused(victim: Victim, judge, case: HeaderCase):
    victim.refuses(judge, "AUTH-CREDENTIALS-REQUIRED", headers=case(victim.user.token))


@pytest.mark.req("AUTH-HEADER-PARSING", "ERR-NO-LEAK", "ERR-NO-POISON", "AUTH-ANY-FAILURE-401")
@pytest.mark.parametrize("case", MISFRAMED.values(), ids=MISFRAMED.keys())
def test_a_valid_token_framed_wrongly_is_refused(victim: Victim, judge, case: HeaderCase):
    token = victim.user.token
    response = victim.refuses(judge, "AUTH-HEADER-PARSING", headers=case(token), seed=None)
    # The valid token must not come back either (the judge only knows the headers' own token).
    judge.expect("ERR-NO-LEAK", checks.no_token_echo(response, token), response)


@pytest.mark.req("AUTH-TOKEN-TRANSPORT", *REFUSAL_REQS, "ERR-401")
def test_token_only_in_the_query_string_is_ignored(victim: Victim, judge):
    watch = Watch.of(victim.client, victim.user)
    response = victim.client.put(victim.task_url, json={"title": "pwned"}, params={"access_token": victim.user.token})
    refused_token(judge, "AUTH-TOKEN-TRANSPORT", response, watch, token=victim.user.token)
    judge.expect("ERR-401", checks.unauthorized(response, checks.REALM_ONLY), response)


@pytest.mark.req("AUTH-TOKEN-TRANSPORT", *REFUSAL_REQS, "ERR-401")
def test_token_only_in_a_form_body_is_ignored(victim: Victim, judge):
    watch = Watch.of(victim.client, victim.user)
    response = victim.client.put(victim.task_url, data={"access_token": victim.user.token, "title": "pwned"})
    # The token was sent as data, not as a credential: only the refusal and the state are judged.
    refused_token(judge, "AUTH-TOKEN-TRANSPORT", response, watch, token=None)
    judge.expect("ERR-401", checks.unauthorized(response, checks.REALM_ONLY), response)


@pytest.mark.req("AUTH-HEADER-PARSING", "ERR-NO-LEAK", "ERR-NO-POISON", "AUTH-ANY-FAILURE-401")
def test_64_kib_token_is_refused(victim: Victim, minter, judge):
    token = minter.mint(victim.user.id, padding="x" * (48 * 1024))
    assert len(token) >= 64 * 1024
    victim.refuses(judge, "AUTH-HEADER-PARSING", token, seed=None)


def _signed_payload(raw: bytes) -> Callable[[AttackContext], str]:
    """A correctly signed token whose payload is valid JSON but not a claims object."""
    return lambda ctx: ctx.minter.sign(raw)


BROKEN = {
    "one-segment": lambda ctx: segments(ctx.genuine)[1],
    "two-segments": lambda ctx: ".".join(segments(ctx.genuine)[:2]),
    "four-segments": lambda ctx: ctx.genuine + ".AAAA",
    "five-segments-jwe-shape": lambda ctx: ".".join(
        [b64url_json({"alg": "dir", "enc": "A256GCM"}), "", b64url(b"iv"), segments(ctx.genuine)[1], "tag"]
    ),
    "empty-segments": lambda _: "..",
    "non-json-header": lambda ctx: with_segment(ctx.genuine, 0, b64url(b"not json")),
    "array-header": lambda ctx: with_segment(ctx.genuine, 0, b64url_json(["EdDSA"])),
    "header-not-base64": lambda ctx: with_segment(ctx.genuine, 0, "e30_-e30_-AAAA~"),
    "payload-not-base64": lambda ctx: with_segment(ctx.genuine, 1, "~~~~"),
}
NOT_CLAIMS = {
    "signed-array-payload": _signed_payload(b'["sub", "victim"]'),
    "signed-string-payload": _signed_payload(b'"victim"'),
    "signed-number-payload": _signed_payload(b"12345"),
    "signed-null-payload": _signed_payload(b"null"),
    "signed-non-json-payload": _signed_payload(b"sub=victim"),
    "signed-empty-payload": _signed_payload(b""),
}


@pytest.mark.parametrize(
    ("requirement", "build"),
    attack_params("AUTH-SIGNATURE", BROKEN, "ERR-401") + attack_params("AUTH-SUBJECT", NOT_CLAIMS, "ERR-401"),
)
def test_structurally_broken_token_is_refused(victim: Victim, minter, make_user, judge, requirement, build):
    victim.refuses(judge, requirement, build(AttackContext(minter, victim.user, make_user)))
