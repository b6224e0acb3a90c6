"""The task routes as data, for tests that sweep every route."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from harness.users import ApiUser


@dataclass(frozen=True)
class TaskRoute:
    method: str
    on_task: bool
    suffix: str = ""
    body: dict[str, Any] | None = None

    def url(self, owner: ApiUser, task_id: int) -> str:
        return owner.tasks_url(task_id, self.suffix) if self.on_task else owner.tasks_url()

    def call(self, client: httpx.Client, token_of: ApiUser, path_of: ApiUser, task_id: int) -> httpx.Response:
        kwargs: dict[str, Any] = {} if self.body is None else {"json": self.body}
        return client.request(self.method, self.url(path_of, task_id), headers=token_of.headers, **kwargs)


ROUTES = {
    "list": TaskRoute("GET", on_task=False),
    "create": TaskRoute("POST", on_task=False, body={"title": "planted"}),
    "read": TaskRoute("GET", on_task=True),
    "replace": TaskRoute("PUT", on_task=True, body={"title": "pwned", "description": None}),
    "delete": TaskRoute("DELETE", on_task=True),
    "toggle": TaskRoute("PATCH", on_task=True, suffix="/complete"),
    "set-completion": TaskRoute("PATCH", on_task=True, suffix="/complete", body={"completed": True}),
}
ITEM_ROUTES = {name: route for name, route in ROUTES.items() if route.on_task}
