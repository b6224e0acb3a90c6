"""A Hypothesis state machine: three users create, read, replace, toggle, delete and page through tasks, often
aiming at each other's ids and paths. After every step the API must agree with a model of who owns what, and no
user may ever observe or alter a task that is not theirs."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from harness.cleanup import delete_all_tasks
from harness.users import ApiUser, UserFactory, list_all

USERS = 3
NOT_FOUND_KEYS = {"type", "title", "status", "detail", "instance", "request_id"}
who = st.integers(min_value=0, max_value=USERS - 1)
titles = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40)
titles = titles.filter(lambda t: t.strip() != "")


@dataclass(frozen=True)
class ModelTask:
    owner: int
    title: str
    completed: bool


class IsolationMachine(RuleBasedStateMachine):
    client: httpx.Client
    make_user: UserFactory

    task_ids = Bundle("task_ids")

    def __init__(self) -> None:
        super().__init__()
        self.users: list[ApiUser] = [self.make_user(f"model{i}") for i in range(USERS)]
        self.model: dict[int, ModelTask] = {}

    # --- helpers ---
    def _owns(self, user: int, task_id: int) -> bool:
        return task_id in self.model and self.model[task_id].owner == user

    def _check_task(self, user: int, task_id: int, response: httpx.Response) -> None:
        """200 with the modelled task when `user` owns it; else the generic 404 and nothing about the task."""
        if self._owns(user, task_id):
            assert response.status_code == 200, response.text
            body = response.json()
            expected = self.model[task_id]
            assert (body["id"], body["title"], body["completed"]) == (task_id, expected.title, expected.completed)
        else:
            assert response.status_code == 404, response.text
            body = response.json()
            assert set(body) == NOT_FOUND_KEYS, body  # the generic problem, no task fields
            assert body["type"] == "urn:todo-api:problem:not-found"

    def _call(self, user: int, method: str, task_id: int, suffix: str = "", **kwargs: Any) -> httpx.Response:
        acting = self.users[user]
        return self.client.request(method, acting.tasks_url(task_id, suffix), headers=acting.headers, **kwargs)

    # --- rules ---
    @rule(target=task_ids, user=who, title=titles)
    def create(self, user: int, title: str) -> int:
        acting = self.users[user]
        response = self.client.post(acting.tasks_url(), json={"title": title}, headers=acting.headers)
        assert response.status_code == 201, response.text
        task_id: int = response.json()["id"]
        assert task_id not in self.model
        self.model[task_id] = ModelTask(owner=user, title=title.strip(), completed=False)
        return task_id

    @rule(user=who, task_id=task_ids)
    def read(self, user: int, task_id: int) -> None:
        self._check_task(user, task_id, self._call(user, "GET", task_id))

    @rule(user=who, task_id=task_ids, title=titles)
    def replace_title(self, user: int, task_id: int, title: str) -> None:
        if self._owns(user, task_id):
            self.model[task_id] = replace(self.model[task_id], title=title.strip())
        self._check_task(user, task_id, self._call(user, "PUT", task_id, json={"title": title}))

    @rule(user=who, task_id=task_ids, completed=st.none() | st.booleans())
    def complete(self, user: int, task_id: int, completed: bool | None) -> None:
        if self._owns(user, task_id):
            old = self.model[task_id]
            self.model[task_id] = replace(old, completed=not old.completed if completed is None else completed)
        body = {} if completed is None else {"json": {"completed": completed}}
        self._check_task(user, task_id, self._call(user, "PATCH", task_id, "/complete", **body))

    @rule(user=who, task_id=task_ids)
    def delete(self, user: int, task_id: int) -> None:
        response = self._call(user, "DELETE", task_id)
        if self._owns(user, task_id):
            assert response.status_code == 204, response.text
            del self.model[task_id]
        else:
            assert response.status_code == 404, response.text

    @rule(user=who, other=who, task_id=task_ids)
    def use_another_users_path(self, user: int, other: int, task_id: int) -> None:
        if user == other:
            return
        path_of, acting = self.users[other], self.users[user]
        response = self.client.put(path_of.tasks_url(task_id), json={"title": "pwned"}, headers=acting.headers)
        assert response.status_code == 403, response.text

    @rule(
        user=who, limit=st.integers(min_value=1, max_value=5), status=st.sampled_from(["all", "pending", "completed"])
    )
    def list_first_page(self, user: int, limit: int, status: str) -> None:
        acting = self.users[user]
        response = self.client.get(
            acting.tasks_url(), params={"limit": limit, "status": status}, headers=acting.headers
        )
        assert response.status_code == 200, response.text
        owned = {
            task_id
            for task_id, task in self.model.items()
            if task.owner == user and status in ("all", "completed" if task.completed else "pending")
        }
        page = {task["id"] for task in response.json()}
        assert page <= owned
        assert len(page) == min(limit, len(owned))

    # --- the model and the API agree, for every user, after every step ---
    @invariant()
    def every_user_sees_exactly_their_tasks(self) -> None:
        for index, user in enumerate(self.users):
            seen = {
                task["id"]: ModelTask(index, task["title"], task["completed"]) for task in list_all(self.client, user)
            }
            assert seen == {task_id: task for task_id, task in self.model.items() if task.owner == index}

    def teardown(self) -> None:
        for user in self.users:
            delete_all_tasks(self.client, user)


@pytest.mark.req("ISO-STATEFUL", "ISO-MATRIX", "ERR-403", "ERR-404")
def test_random_multi_user_operations_never_cross_users(client: httpx.Client, make_user: UserFactory):
    """Bounded for the gate (15 runs of 20 steps, ~1,200 requests); STATEFUL_MAX_EXAMPLES/STATEFUL_STEPS raise it."""
    machine = type(
        "BoundIsolationMachine", (IsolationMachine,), {"client": client, "make_user": staticmethod(make_user)}
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=int(os.environ.get("STATEFUL_MAX_EXAMPLES", "15")),
            stateful_step_count=int(os.environ.get("STATEFUL_STEPS", "20")),
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
