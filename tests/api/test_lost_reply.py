"""A fault between the commit and the client: the reply to a keyed create is lost on the way (the connection is
reset when the answer starts), and the client retries with the same Idempotency-Key. Exactly one task exists, and the
retry gets the answer the client never saw."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from harness.resilience.lost_reply import ReplyDropper


@pytest.fixture
def dropper(live_url):
    with ReplyDropper(int(live_url.rsplit(":", 1)[1])) as proxy:
        yield proxy


def _count(engine, user) -> int:
    with engine.connect() as connection:
        query = text("SELECT count(*) FROM tasks WHERE user_id = :owner")
        return int(connection.execute(query, {"owner": user.id}).scalar_one())


def _create(base_url: str, user, key: str | None) -> httpx.Response:
    headers = {**user.headers, **({"Idempotency-Key": key} if key else {})}
    with httpx.Client(base_url=base_url, timeout=20) as client:
        return client.post(user.tasks_url(), json={"title": "sent from a train"}, headers=headers)


@pytest.mark.req("API-IDEMPOTENCY-LOST-REPLY")
def test_a_retry_after_a_lost_reply_gets_the_original_201_and_one_task_exists(live_url, dropper, make_user, engine):
    user = make_user("commuter")

    with pytest.raises(httpx.TransportError):
        _create(dropper.url, user, "lost-reply")
    retried = _create(live_url, user, "lost-reply")

    assert dropper.dropped == 1, "the reply was not cut after the server answered"
    assert retried.status_code == 201
    assert _count(engine, user) == 1
    listed = httpx.get(f"{live_url}{user.tasks_url()}", headers=user.headers).json()
    assert [task["id"] for task in listed] == [retried.json()["id"]]


@pytest.mark.req("API-IDEMPOTENCY-LOST-REPLY")
def test_without_a_key_the_same_retry_writes_a_second_task(live_url, dropper, make_user, engine):
    # The control: the fault really lands after the commit, so only the key keeps the retry from doubling.
    user = make_user("commuter")

    with pytest.raises(httpx.TransportError):
        _create(dropper.url, user, None)
    _create(live_url, user, None)

    assert _count(engine, user) == 2
