"""Scenes the security specs play: a victim with data to protect, an owner with a task of their own."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from harness.checks import INVALID_TOKEN, assert_refused
from harness.users import ApiUser, create_task, list_all

ATTACK_BODY = {"title": "pwned"}
TableSnapshot = Callable[[], object]


@dataclass
class Victim:
    """A user with a task; every attack aims a write at that task and then proves it is unchanged."""

    client: httpx.Client
    user: ApiUser
    task: dict[str, Any]
    before: list[dict[str, Any]]

    @property
    def task_url(self) -> str:
        return self.user.tasks_url(self.task["id"])

    def attempt(self, token: str | None = None, headers: Any = None, **kwargs: Any) -> httpx.Response:
        if headers is None:
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return self.client.put(self.task_url, json=ATTACK_BODY, headers=headers, **kwargs)

    def assert_untouched(self) -> None:
        assert list_all(self.client, self.user) == self.before

    def assert_refuses(
        self, token: str | None = None, headers: Any = None, challenge: re.Pattern[str] = INVALID_TOKEN, **kwargs: Any
    ) -> httpx.Response:
        """The attack gets a clean 401 that echoes nothing of the token, and the task is exactly as it was."""
        response = self.attempt(token, headers, **kwargs)
        assert_refused(response, token, challenge=challenge)
        self.assert_untouched()
        return response

    def assert_accepts(self, token: str) -> None:
        """Positive control: the same route answers 200 to this token (read-only, so nothing changes)."""
        response = self.client.get(self.task_url, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        assert response.json() == self.task


def make_victim(client: httpx.Client, user: ApiUser) -> Victim:
    task = create_task(client, user, "victim's task", description="must never change")
    return Victim(client=client, user=user, task=task, before=list_all(client, user))


@dataclass
class Owner:
    """A user with one task of their own: the intruder of the isolation tests, the sender of hostile bodies."""

    user: ApiUser
    task: dict[str, Any]
