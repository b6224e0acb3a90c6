"""The isolation matrix: every task route x every way of reaching another user's data. A foreign token on the
victim's path is 403; the victim's task id under the intruder's own path is 404; either way nothing is read,
created, changed or deleted (checked through the API and, in-process, on every database row)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from harness.checks import assert_no_leak, assert_problem
from harness.scenes import Owner, TableSnapshot, Victim
from harness.task_routes import ITEM_ROUTES, ROUTES, TaskRoute
from harness.users import ApiUser, list_all

# (victim, intruder) -> (whose token, whose path, which task id)
Aim = Callable[[Victim, Owner], tuple[ApiUser, ApiUser, int]]
FOREIGN_PATH: dict[str, Aim] = {
    "intruder-token-on-victim-path-and-task": lambda v, i: (i.user, v.user, v.task["id"]),
    "intruder-token-on-victim-path-with-own-task-id": lambda v, i: (i.user, v.user, i.task["id"]),
}


def _assert_nothing_changed(
    client: httpx.Client, victim: Victim, intruder: Owner, intruder_before: list[Any], rows: object, now: object
) -> None:
    victim.assert_untouched()
    assert list_all(client, intruder.user) == intruder_before
    assert now == rows


@pytest.mark.req("ISO-MATRIX", "ERR-403", "ERR-NO-LEAK")
@pytest.mark.parametrize("aim", FOREIGN_PATH.values(), ids=FOREIGN_PATH.keys())
@pytest.mark.parametrize("route", ROUTES.values(), ids=ROUTES.keys())
def test_foreign_token_on_victim_path_is_forbidden_and_changes_nothing(
    client: httpx.Client, victim: Victim, intruder: Owner, table_snapshot: TableSnapshot, route: TaskRoute, aim: Aim
):
    intruder_before, rows = list_all(client, intruder.user), table_snapshot()
    token_of, path_of, task_id = aim(victim, intruder)
    response = route.call(client, token_of, path_of, task_id)
    assert assert_problem(response, 403)["type"] == "urn:todo-api:problem:forbidden"
    assert_no_leak(response, victim.task["title"], victim.task["description"], victim.user.token)
    _assert_nothing_changed(client, victim, intruder, intruder_before, rows, table_snapshot())


@pytest.mark.req("ISO-MATRIX", "ERR-404", "ERR-NO-LEAK")
@pytest.mark.parametrize("route", ITEM_ROUTES.values(), ids=ITEM_ROUTES.keys())
def test_victim_task_id_under_own_path_is_not_found_and_changes_nothing(
    client: httpx.Client, victim: Victim, intruder: Owner, table_snapshot: TableSnapshot, route: TaskRoute
):
    intruder_before, rows = list_all(client, intruder.user), table_snapshot()
    response = route.call(client, intruder.user, intruder.user, victim.task["id"])
    assert assert_problem(response, 404)["type"] == "urn:todo-api:problem:not-found"
    assert_no_leak(response, victim.task["title"], victim.task["description"], victim.user.id)
    _assert_nothing_changed(client, victim, intruder, intruder_before, rows, table_snapshot())


@pytest.mark.req("ISO-MATRIX", "API-LIST")
def test_list_shows_only_own_tasks(client: httpx.Client, victim: Victim, intruder: Owner):
    assert [task["id"] for task in list_all(client, intruder.user)] == [intruder.task["id"]]
    assert [task["id"] for task in list_all(client, victim.user)] == [victim.task["id"]]
