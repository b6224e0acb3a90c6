"""Concurrent requests over real HTTP: atomic toggles, the user row created once on first use, If-Match decided
inside the change, one row per Idempotency-Key."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import httpx
import pytest
from sqlalchemy import text

from harness.users import create_task

T = TypeVar("T")


def all_at_once(count: int, action: Callable[[httpx.Client], T], base_url: str) -> list[T]:
    """Runs `action` in `count` threads released together by a barrier, each with its own connection."""
    barrier = threading.Barrier(count, timeout=20)

    def run(_: int) -> T:
        with httpx.Client(base_url=base_url, timeout=20) as client:
            barrier.wait()
            return action(client)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


@pytest.mark.req("API-TOGGLE-ATOMIC")
@pytest.mark.parametrize("toggles", [25, 26])
def test_concurrent_toggles_leave_the_state_their_parity_says(live_url, make_user, toggles):
    user = make_user("toggler")
    with httpx.Client(base_url=live_url, timeout=20) as client:
        task = create_task(client, user)
        url = user.tasks_url(task["id"], "/complete")

        statuses = all_at_once(toggles, lambda c: c.patch(url, headers=user.headers).status_code, live_url)

        final = client.get(user.tasks_url(task["id"]), headers=user.headers).json()
    assert statuses == [200] * toggles
    assert final["completed"] is (toggles % 2 == 1)
    assert (final["completed_at"] is not None) is final["completed"]


@pytest.mark.req("DB-FIRST-USE")
def test_concurrent_first_requests_of_a_new_user_all_succeed_and_create_one_user_row(live_url, make_user, engine):
    user = make_user("newcomer")
    requests = 20

    statuses = all_at_once(
        requests,
        lambda c: c.post(user.tasks_url(), json={"title": "first"}, headers=user.headers).status_code,
        live_url,
    )

    assert statuses == [201] * requests
    with engine.connect() as connection:
        users = connection.execute(text("SELECT count(*) FROM users WHERE id = :id"), {"id": user.id}).scalar_one()
        tasks = connection.execute(text("SELECT count(*) FROM tasks WHERE user_id = :id"), {"id": user.id}).scalar_one()
    assert (users, tasks) == (1, requests)


@pytest.mark.req("API-IF-MATCH-ATOMIC")
def test_concurrent_puts_with_the_same_if_match_give_one_200_and_412s_for_the_rest(live_url, make_user):
    user = make_user("editor")
    writers = 12
    with httpx.Client(base_url=live_url, timeout=20) as client:
        created = client.post(user.tasks_url(), json={"title": "shared"}, headers=user.headers)
        url, tag = created.headers["location"], created.headers["etag"]

        answers = all_at_once(
            writers,
            lambda c: c.put(
                url, json={"title": f"by {threading.get_ident()}"}, headers={**user.headers, "If-Match": tag}
            ),
            live_url,
        )

        final = client.get(url, headers=user.headers)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [412] * (writers - 1)
    [winner] = [answer for answer in answers if answer.status_code == 200]
    assert final.json()["title"] == winner.json()["title"], "the one 200 is the change that stuck"
    assert {answer.headers["etag"] for answer in answers} == {final.headers["etag"]}, "412s name the winner's tag"


@pytest.mark.req("API-IDEMPOTENCY-IN-FLIGHT", "API-IDEMPOTENT-CREATE")
def test_concurrent_posts_with_one_idempotency_key_write_one_row_and_answer_alike(live_url, make_user, engine):
    user = make_user("double-tapper")
    senders = 12
    headers = {**user.headers, "Idempotency-Key": "tap"}
    answers = all_at_once(
        senders, lambda c: c.post(user.tasks_url(), json={"title": "once"}, headers=headers), live_url
    )

    created = [answer for answer in answers if answer.status_code == 201]
    assert sorted({answer.status_code for answer in answers}) in ([201], [201, 409])
    assert {(a.headers["location"], a.headers["etag"], a.text) for a in created} == {
        (created[0].headers["location"], created[0].headers["etag"], created[0].text)
    }
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT count(*) FROM tasks WHERE user_id = :id"), {"id": user.id}).scalar_one()
    assert rows == 1
