"""Test users and a thin task client, the same in-process and against a deployed target."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class ApiUser:
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def tasks_url(self, task_id: int | str | None = None, suffix: str = "") -> str:
        base = f"/api/{self.id}/tasks"
        return base if task_id is None else f"{base}/{task_id}{suffix}"


def new_user_id(prefix: str = "user") -> str:
    # Unique per test run, so tests never see each other's data (also on a shared target deployment).
    return f"spec-{prefix}-{uuid.uuid4().hex[:16]}"


UserFactory = Callable[..., ApiUser]


def create_task(client: httpx.Client, user: ApiUser, title: str = "a task", **fields: Any) -> dict[str, Any]:
    response = client.post(user.tasks_url(), json={"title": title, **fields}, headers=user.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def list_all(client: httpx.Client, user: ApiUser, **params: Any) -> list[dict[str, Any]]:
    """Every task of the user, following Link: rel="next" to the end."""
    tasks: list[dict[str, Any]] = []
    url: str | None = user.tasks_url()
    query: dict[str, Any] | None = {"limit": 200, **params}
    while url is not None:
        response = client.get(url, params=query, headers=user.headers)
        assert response.status_code == 200, response.text
        tasks.extend(response.json())
        url = response.links.get("next", {}).get("url")
        query = None
    return tasks
