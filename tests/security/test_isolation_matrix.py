"""The isolation matrix: every task route x every way of reaching another user's data. A foreign token on the
victim's path, also one whose id differs from the victim's only in case or by a prefix or a suffix, and the victim's
task id under the intruder's own path: nothing is read, listed, created, changed or deleted (checked through the API
and, in-process, on every database row). This backend answers 403 and 404; any refusal is secure."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness import checks
from harness.judgements import FOREIGN_REQS, Watch, foreign_reach
from harness.scenes import Owner, Victim, make_owner, make_victim
from harness.spec.taxonomy import Sweep, sweep_routes
from harness.users import ApiUser, list_all, new_user_id
from harness.verdicts import PASS, fail

ROUTES = sweep_routes()
ITEM_ROUTES = sweep_routes(on_task=True)
# (victim, intruder) -> (whose path, which task id)
Aim = Callable[[Victim, Owner], tuple[ApiUser, str]]
FOREIGN_PATH: dict[str, Aim] = {
    "intruder-token-on-victim-path-and-task": lambda v, i: (v.user, v.task_id),
    "intruder-token-on-victim-path-with-own-task-id": lambda v, i: (v.user, i.task_id),
}


def _reach(client, judge, victim: Victim, intruder: Owner, table_snapshot, send, exact: tuple[int, str]) -> None:
    watch, rows = Watch.of(client, victim.user, intruder.user), table_snapshot()
    response = send()
    foreign_reach(judge, response, watch, private=victim.private, token=intruder.user.token)
    judge.expect("ISO-MATRIX", PASS if table_snapshot() == rows else fail("a database row changed"), response)
    status, slug = exact
    judge.expect(f"ERR-{status}", checks.problem(response, status, slug), response)


@pytest.mark.req("ISO-MATRIX", *FOREIGN_REQS, "ERR-403")
@pytest.mark.parametrize("aim", FOREIGN_PATH.values(), ids=FOREIGN_PATH.keys())
@pytest.mark.parametrize("route", ROUTES.values(), ids=ROUTES.keys())
def test_foreign_token_on_victim_path_reaches_nothing(
    client, judge, victim: Victim, intruder: Owner, table_snapshot, route: Sweep, aim: Aim
):
    path_of, task_id = aim(victim, intruder)
    send = lambda: route.call(client, intruder.user, path_of, task_id)  # noqa: E731
    _reach(client, judge, victim, intruder, table_snapshot, send, (403, "forbidden"))


@pytest.mark.req("ISO-MATRIX", *FOREIGN_REQS, "ERR-404")
@pytest.mark.parametrize("route", ITEM_ROUTES.values(), ids=ITEM_ROUTES.keys())
def test_victim_task_id_under_own_path_reaches_nothing(
    client, judge, victim: Victim, intruder: Owner, table_snapshot, route: Sweep
):
    send = lambda: route.call(client, intruder.user, intruder.user, victim.task_id)  # noqa: E731
    _reach(client, judge, victim, intruder, table_snapshot, send, (404, "not-found"))


# The victim's id, from the intruder's: an owner check that ignores case or compares prefixes lets these through.
LOOKALIKES: dict[str, Callable[[str], str]] = {
    "differs-only-in-case": str.upper,
    "has-a-suffix": lambda user_id: f"{user_id}2",
    "has-a-dash-suffix": lambda user_id: f"{user_id}-x",
    "is-a-prefix": lambda user_id: user_id[:-1],
}


@pytest.mark.req("ISO-MATRIX", *FOREIGN_REQS, "ERR-403")
@pytest.mark.parametrize("route", ROUTES.values(), ids=ROUTES.keys())
@pytest.mark.parametrize("lookalike", LOOKALIKES.values(), ids=LOOKALIKES.keys())
def test_token_on_the_path_of_a_lookalike_user_id_reaches_nothing(
    client, judge, make_user, table_snapshot, route: Sweep, lookalike: Callable[[str], str]
):
    intruder = make_owner(client, make_user.with_id(new_user_id("look")), "intruder")
    victim = make_victim(client, make_user.with_id(lookalike(intruder.user.id)))
    send = lambda: route.call(client, intruder.user, victim.user, victim.task_id)  # noqa: E731
    _reach(client, judge, victim, intruder, table_snapshot, send, (403, "forbidden"))


@pytest.mark.req("ISO-MATRIX", "API-LIST")
def test_list_shows_only_own_tasks(client, judge, victim: Victim, intruder: Owner):
    for owner, other in ((intruder, victim), (victim, intruder)):
        response = client.get(owner.user.tasks_url(), headers=owner.user.headers)
        judge.expect("ISO-MATRIX", checks.not_in_body(response, "another user's task", *other.private), response)
        ids = {str(task.get("id")) for task in list_all(client, owner.user)}
        judge.expect("API-LIST", PASS if ids == {owner.task_id} else fail(f"{owner.user.id} lists {ids}"), response)
