"""Test users and a thin task client, the same in-process and against a deployed target.

Setup helpers (`create_task`, `list_all`) accept any 2xx: no fixture asserts a contract status code. When the target
refuses the setup, the test "could not run" (in-process the plugin turns that into a failure: it is a bug there).
`snapshot_tasks` is the checking counterpart: it never raises, and says why a listing failed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

import httpx

from harness.verdicts import could_not_run


@dataclass(frozen=True)
class TaskPaths:
    """Where the task routes live: this backend's layout by default, or what discovery found on a target."""

    collection: str = "/api/{user_id}/tasks"  # the user's placeholder is always written {user_id} here
    complete_suffix: str = "/complete"

    def collection_url(self, user_id: str) -> str:
        return self.collection.replace("{user_id}", quote(user_id, safe=""))

    def owner_of_collection(self, path: str) -> str | None:
        """The user id in a collection path (`/api/alice/tasks` -> alice), or None for any other path."""
        prefix, _, suffix = self.collection.partition("{user_id}")
        if path.startswith(prefix) and path.endswith(suffix) and len(path) > len(prefix) + len(suffix):
            owner = unquote(path[len(prefix) : len(path) - len(suffix)])
            return owner if "/" not in owner else None
        return None


DEFAULT_PATHS = TaskPaths()


@dataclass(frozen=True)
class ApiUser:
    id: str
    token: str
    paths: TaskPaths = field(default=DEFAULT_PATHS, compare=False)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def tasks_url(self, task_id: int | str | None = None, suffix: str = "") -> str:
        base = self.paths.collection_url(self.id)
        if task_id is None:
            return base
        if suffix == "/complete":
            suffix = self.paths.complete_suffix
        return f"{base}/{quote(str(task_id), safe='')}{suffix}"


def new_user_id(prefix: str = "user") -> str:
    # Unique per test run, so tests never see each other's data (also on a shared target deployment).
    return f"spec-{prefix}-{uuid.uuid4().hex[:16]}"


UserFactory = Callable[..., ApiUser]


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def create_task(client: httpx.Client, user: ApiUser, title: str = "a task", **fields: Any) -> dict[str, Any]:
    """Setup: a task of `user`'s, as the target answered it (any 2xx with the task as a JSON object)."""
    response = client.post(user.tasks_url(), json={"title": title, **fields}, headers=user.headers)
    body = _json(response)
    if not response.is_success or not isinstance(body, dict) or "id" not in body:
        could_not_run(f"could not create a task: POST {user.tasks_url()} answered {response.status_code}")
    return body


def _next_page(response: httpx.Response) -> str | None:
    url: str | None = response.links.get("next", {}).get("url")
    return url


@dataclass(frozen=True)
class Listing:
    """Every task of a user (Link rel="next" followed to the end), or the response that stopped the listing."""

    tasks: list[dict[str, Any]] | None
    failed: httpx.Response | None = None

    @property
    def by_id(self) -> dict[str, dict[str, Any]]:
        return {str(task.get("id")): task for task in self.tasks or ()}


def snapshot_tasks(client: httpx.Client, user: ApiUser, **params: Any) -> Listing:
    tasks: list[dict[str, Any]] = []
    url: str | None = user.tasks_url()
    query: dict[str, Any] | None = params or None
    for _ in range(1000):  # a bound, in case a target's Link never ends
        if url is None:
            return Listing(tasks)
        response = client.get(url, params=query, headers=user.headers)
        page = _json(response)
        if not response.is_success or not isinstance(page, list):
            return Listing(None, response)
        tasks.extend(task for task in page if isinstance(task, dict))
        url, query = _next_page(response), None
    return Listing(tasks)


def list_all(client: httpx.Client, user: ApiUser, **params: Any) -> list[dict[str, Any]]:
    """Setup: every task of the user."""
    listing = snapshot_tasks(client, user, **params)
    if listing.tasks is None:
        assert listing.failed is not None
        could_not_run(f"could not list tasks: GET {user.tasks_url()} answered {listing.failed.status_code}")
    return listing.tasks
