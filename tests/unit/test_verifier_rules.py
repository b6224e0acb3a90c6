"""TokenVerifier rules at their edges: the verified-token cache (size, LRU order), numeric-date bounds, the subject
length limit, and the principal's optional claims. HS256 tokens against a StaticKeyVerifier: no network, no mocks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from backend.auth.principal import Principal
from backend.auth.verifier import MAX_NUMERIC_DATE, AuthError, StaticKeyVerifier
from backend.db.models import USER_ID_MAX
from harness.clock import FakeClock
from harness.credentials import secret_minter

SECRET = b"0123456789abcdef0123456789abcdef"


class CountingVerifier(StaticKeyVerifier):
    """Counts full verifications (key lookups): a cache hit does none."""

    lookups = 0

    async def _key_for(self, header: dict[str, Any]) -> Any:
        self.lookups += 1
        return await super()._key_for(header)


def make_verifier(
    cache_size: int = 0, leeway_seconds: int = 0, clock: Callable[[], float] = time.time
) -> CountingVerifier:
    return CountingVerifier(
        SECRET,
        algorithms=["HS256"],
        issuer=None,
        audience=None,
        leeway_seconds=leeway_seconds,
        cache_size=cache_size,
        cache_seconds=300,
        clock=clock,
    )


def token(sub: str = "rules-user", **claims: Any) -> str:
    return secret_minter(SECRET).mint(sub, ttl=600, **claims)


def verify(verifier: CountingVerifier, value: str) -> Principal:
    return asyncio.run(verifier.verify(value))


def refusal(value: str) -> str:
    with pytest.raises(AuthError) as refused:
        verify(make_verifier(), value)
    return refused.value.reason


def lookups_for(verifier: CountingVerifier, *tokens: str) -> int:
    before = verifier.lookups
    for value in tokens:
        verify(verifier, value)
    return verifier.lookups - before


@pytest.mark.req("AUTH-ANY-FAILURE-401")
def test_without_a_cache_every_request_is_verified() -> None:
    verifier, a = make_verifier(cache_size=0), token()
    assert lookups_for(verifier, a, a) == 2


@pytest.mark.req("AUTH-ANY-FAILURE-401")
def test_a_cache_of_one_remembers_the_last_token() -> None:
    verifier, a = make_verifier(cache_size=1), token()
    assert lookups_for(verifier, a, a, a) == 1


@pytest.mark.req("AUTH-ANY-FAILURE-401")
def test_the_cache_holds_exactly_its_size() -> None:
    verifier, a, b = make_verifier(cache_size=2), token("a"), token("b")
    assert lookups_for(verifier, a, b) == 2
    assert lookups_for(verifier, a, b) == 0


@pytest.mark.req("AUTH-ANY-FAILURE-401")
def test_the_cache_evicts_the_least_recently_used_token() -> None:
    verifier, a, b, c = make_verifier(cache_size=2), token("a"), token("b"), token("c")
    assert lookups_for(verifier, a, b, c) == 3
    assert lookups_for(verifier, b, c) == 0
    assert lookups_for(verifier, a) == 1


@pytest.mark.req("AUTH-EXPIRY", "AUTH-IAT", "AUTH-NBF")
@pytest.mark.parametrize("claim", ["exp", "nbf"])
def test_time_claims_at_the_float_precision_limit_are_refused(claim: str) -> None:
    value = MAX_NUMERIC_DATE if claim == "exp" else -MAX_NUMERIC_DATE
    assert refusal(token(**{claim: value})) == "invalid time claim"


@pytest.mark.req("AUTH-LEEWAY")
def test_time_claims_just_inside_the_limit_are_accepted() -> None:
    principal = verify(make_verifier(), token(exp=MAX_NUMERIC_DATE - 1, nbf=-MAX_NUMERIC_DATE + 1))
    assert principal.user_id == "rules-user"


@pytest.mark.req("AUTH-SUBJECT")
def test_a_subject_of_the_maximum_length_is_accepted() -> None:
    sub = "u" * USER_ID_MAX
    assert verify(make_verifier(), token(sub)).user_id == sub


@pytest.mark.req("AUTH-SUBJECT")
def test_a_subject_over_the_maximum_length_is_refused_as_invalid_subject() -> None:
    assert refusal(token("u" * (USER_ID_MAX + 1))) == "invalid subject"


@pytest.mark.req("AUTH-IDENTITY-CLAIM")
def test_the_principal_carries_the_email_and_name_claims() -> None:
    principal = verify(make_verifier(), token("named", email="named@example.test", name="Named User"))
    assert (principal.email, principal.name) == ("named@example.test", "Named User")


@pytest.mark.req("AUTH-IDENTITY-CLAIM")
def test_non_string_email_and_name_claims_are_dropped() -> None:
    principal = verify(make_verifier(), token("odd", email=123, name=["Named"]))
    assert (principal.email, principal.name) == (None, None)


def real_time_clock() -> FakeClock:
    """Frozen at the current second: PyJWT still checks exp and iat against time.time()."""
    return FakeClock(float(int(time.time())))


@pytest.mark.req("AUTH-EXPIRY")
def test_a_cached_token_is_verified_again_at_the_instant_its_cache_entry_ends() -> None:
    clock = real_time_clock()
    verifier, a = make_verifier(cache_size=4, clock=clock), token()
    assert lookups_for(verifier, a) == 1
    clock.advance(299)  # cache_seconds is 300
    assert lookups_for(verifier, a) == 0
    clock.advance(1)
    assert lookups_for(verifier, a) == 1


@pytest.mark.req("AUTH-LEEWAY")
def test_a_token_within_the_leeway_of_its_exp_is_still_served_from_the_cache() -> None:
    clock = real_time_clock()
    verifier = make_verifier(cache_size=4, leeway_seconds=30, clock=clock)
    soon_expiring = token(exp=int(clock.now) + 5)
    assert lookups_for(verifier, soon_expiring) == 1
    clock.advance(20)  # past exp, within the leeway: cached until exp + leeway
    assert lookups_for(verifier, soon_expiring) == 0


@pytest.mark.req("AUTH-LEEWAY")
def test_an_iat_exactly_at_now_plus_the_leeway_is_accepted() -> None:
    clock = real_time_clock()
    now = int(clock.now)
    verifier = make_verifier(clock=clock)
    principal = verify(verifier, token(iat=now, exp=now + 600))
    assert principal.user_id == "rules-user"


@pytest.mark.req("AUTH-IAT", "ERR-401-REASON")
def test_an_iat_in_the_future_of_the_verifiers_own_clock_is_not_yet_valid() -> None:
    # PyJWT checks iat against time.time(); the verifier checks it again against its own clock, so an injected (or
    # corrected) clock is honoured too.
    clock = real_time_clock()
    clock.now -= 100
    now = int(time.time())
    with pytest.raises(AuthError) as refused:
        verify(make_verifier(clock=clock), token(iat=now - 50, exp=now + 600))
    assert refused.value.reason == "token not yet valid"
