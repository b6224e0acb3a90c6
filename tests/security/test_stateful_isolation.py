"""A Hypothesis state machine: three users create, read, replace, toggle, delete and page through tasks, often
aiming at each other's ids and paths. After every step no user may have observed or altered a task that is not
theirs (ISO-MATRIX, judged contract-neutrally), each user's own tasks must read as the model says (ISO-STATEFUL),
and this backend's exact statuses hold (reference).

The machine is built by a factory and run by `run_state_machine_as_test`; the same users play every example (their
tasks are deleted between examples), so a run needs three accounts whatever the credential source."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from harness import checks
from harness.users import ApiUser, snapshot_tasks
from harness.verdicts import PASS, Judge, Verdict, fail

USERS = 3
who = st.integers(min_value=0, max_value=USERS - 1)
titles = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40)
titles = titles.filter(lambda t: t.strip() != "")


class JudgedFailureError(AssertionError):
    """A judged check failed: raised so that Hypothesis shrinks to the shortest sequence that shows it."""


@dataclass(frozen=True)
class ModelTask:
    owner: int
    title: str  # as sent; an implementation may store it trimmed
    completed: bool

    def matches(self, title: object, completed: object) -> bool:
        return title in {self.title, self.title.strip()} and completed == self.completed


def isolation_machine(client: httpx.Client, users: list[ApiUser], judge: Judge) -> type[RuleBasedStateMachine]:
    """A state machine class bound to this test's client, users and judge."""

    def expect(requirement: str, verdict: Verdict, response: httpx.Response | None) -> None:
        if not judge.expect(requirement, verdict, response):
            raise JudgedFailureError(verdict.message)

    class IsolationMachine(RuleBasedStateMachine):
        task_ids = Bundle("task_ids")

        def __init__(self) -> None:
            super().__init__()
            self.model: dict[str, ModelTask] = {}

        def _owns(self, user: int, task_id: str) -> bool:
            return task_id in self.model and self.model[task_id].owner == user

        def _others(self, user: int) -> set[str]:
            """Ids of other users' tasks: recognised by id, since two users may well give tasks the same title."""
            return {task_id for task_id, task in self.model.items() if task.owner != user}

        def _call(self, user: int, method: str, task_id: str, suffix: str = "", **kwargs: Any) -> httpx.Response:
            acting = users[user]
            return client.request(method, acting.tasks_url(task_id, suffix), headers=acting.headers, **kwargs)

        def _check_task(self, user: int, task_id: str, response: httpx.Response) -> None:
            """The owner gets the modelled task; anyone else gets a refusal that shows nothing of it."""
            if self._owns(user, task_id):
                body = _json_object(response)
                same = str(body.get("id")) == task_id and self.model[task_id].matches(
                    body.get("title"), body.get("completed")
                )
                expect("ISO-STATEFUL", checks.success(response), response)
                expect("ISO-STATEFUL", PASS if same else fail(f"task {task_id} reads {body}"), response)
            else:
                expect("ISO-MATRIX", checks.not_accepted(response, "a request for another user's task"), response)
                expect("ERR-404", checks.problem(response, 404, "not-found"), response)

        @rule(target=task_ids, user=who, title=titles)
        def create(self, user: int, title: str) -> str:
            acting = users[user]
            response = client.post(acting.tasks_url(), json={"title": title}, headers=acting.headers)
            expect("ISO-STATEFUL", checks.success(response), response)
            expect("API-CREATE", checks.status(response, 201), response)
            task_id = str(_json_object(response).get("id"))
            expect("ISO-STATEFUL", PASS if task_id not in self.model else fail(f"id {task_id} reused"), response)
            self.model[task_id] = ModelTask(owner=user, title=title, completed=False)
            return task_id

        @rule(user=who, task_id=task_ids)
        def read(self, user: int, task_id: str) -> None:
            self._check_task(user, task_id, self._call(user, "GET", task_id))

        @rule(user=who, task_id=task_ids, title=titles)
        def replace_title(self, user: int, task_id: str, title: str) -> None:
            if self._owns(user, task_id):
                self.model[task_id] = replace(self.model[task_id], title=title)
            self._check_task(user, task_id, self._call(user, "PUT", task_id, json={"title": title}))

        @rule(user=who, task_id=task_ids, completed=st.none() | st.booleans())
        def complete(self, user: int, task_id: str, completed: bool | None) -> None:
            if self._owns(user, task_id):
                old = self.model[task_id]
                self.model[task_id] = replace(old, completed=not old.completed if completed is None else completed)
            body = {} if completed is None else {"json": {"completed": completed}}
            self._check_task(user, task_id, self._call(user, "PATCH", task_id, "/complete", **body))

        @rule(user=who, task_id=task_ids)
        def delete(self, user: int, task_id: str) -> None:
            response = self._call(user, "DELETE", task_id)
            if self._owns(user, task_id):
                expect("ISO-STATEFUL", checks.success(response), response)
                expect("API-DELETE", checks.status(response, 204), response)
                del self.model[task_id]
            else:
                expect("ISO-MATRIX", checks.not_accepted(response, "a delete of another user's task"), response)
                expect("ERR-404", checks.status(response, 404), response)

        @rule(user=who, other=who, task_id=task_ids)
        def use_another_users_path(self, user: int, other: int, task_id: str) -> None:
            if user == other:
                other = (other + 1) % USERS
            path_of, acting = users[other], users[user]
            response = client.put(path_of.tasks_url(task_id), json={"title": "pwned"}, headers=acting.headers)
            expect("ISO-MATRIX", checks.not_accepted(response, "a write on another user's path"), response)
            expect("ERR-403", checks.status(response, 403), response)

        @rule(
            user=who,
            limit=st.integers(min_value=1, max_value=5),
            status=st.sampled_from(["all", "pending", "completed"]),
        )
        def list_first_page(self, user: int, limit: int, status: str) -> None:
            acting = users[user]
            params = {"limit": limit, "status": status}
            response = client.get(acting.tasks_url(), params=params, headers=acting.headers)
            body = response.json() if checks.json_content(response) else []
            page = {str(task.get("id")) for task in body if isinstance(task, dict)}
            foreign = sorted(page & self._others(user))
            shown = fail(f"{acting.id}'s list shows other users' tasks {foreign}") if foreign else PASS
            expect("ISO-MATRIX", shown, response)
            owned = {
                task_id
                for task_id, task in self.model.items()
                if task.owner == user and (status == "all" or (status == "completed") == task.completed)
            }
            right = page <= owned and len(page) == min(limit, len(owned))
            expect("API-LIST-LIMIT", PASS if right else fail(f"page {page} of {owned} with limit {limit}"), response)

        @invariant()
        def every_user_sees_exactly_their_tasks(self) -> None:
            for index, user in enumerate(users):
                listing = snapshot_tasks(client, user)
                if listing.tasks is None:
                    assert listing.failed is not None
                    expect("ERR-NO-POISON", fail(checks.describe(listing.failed)), listing.failed)
                    continue
                seen = listing.by_id
                mine = {task_id: task for task_id, task in self.model.items() if task.owner == index}
                foreign = sorted((set(seen) - set(mine)) & set(self.model))
                expect("ISO-MATRIX", fail(f"{user.id} lists other users' tasks {foreign}") if foreign else PASS, None)
                same = set(seen) - set(foreign) == set(mine) and all(
                    task.matches(seen[task_id].get("title"), seen[task_id].get("completed"))
                    for task_id, task in mine.items()
                )
                expect("ISO-STATEFUL", PASS if same else fail(f"{user.id} lists {seen}, the model says {mine}"), None)

        def teardown(self) -> None:
            for user in users:
                for task_id in snapshot_tasks(client, user).by_id:
                    client.delete(user.tasks_url(task_id), headers=user.headers)

    return IsolationMachine


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@pytest.mark.req("ISO-MATRIX", "ISO-STATEFUL", "ERR-NO-POISON", "ERR-403", "ERR-404", "API-CREATE", "API-DELETE")
@pytest.mark.req("API-LIST-LIMIT")
def test_random_multi_user_operations_never_cross_users(client: httpx.Client, make_user, judge: Judge):
    """Bounded for the gate (15 runs of 20 steps, ~1,200 requests); STATEFUL_MAX_EXAMPLES/STATEFUL_STEPS raise it."""
    users = [make_user(f"model{i}") for i in range(USERS)]
    # A judged failure is recorded by the judge, which fails the test with every violation it saw.
    with contextlib.suppress(JudgedFailureError):
        run_state_machine_as_test(
            isolation_machine(client, users, judge),
            settings=settings(
                max_examples=int(os.environ.get("STATEFUL_MAX_EXAMPLES", "15")),
                stateful_step_count=int(os.environ.get("STATEFUL_STEPS", "20")),
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                report_multiple_bugs=False,
            ),
        )
