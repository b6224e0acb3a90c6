"""Concurrent requests over real HTTP: atomic toggles, and the user row created once on first use."""

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
