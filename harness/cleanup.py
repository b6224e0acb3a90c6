"""What a run against a deployment creates, it deletes again: every task a harness user owns, found by listing and
by the ids the target returned from any 2xx create (so a task is deleted even when the user's list is broken)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import httpx

from harness.users import ApiUser, TaskPaths, snapshot_tasks


@dataclass
class CreatedTasks:
    """Task ids by owner, from every successful create the client saw (an httpx response hook)."""

    paths: TaskPaths
    by_user: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def record(self, response: httpx.Response) -> None:
        if response.request.method != "POST" or not response.is_success:
            return
        owner = self.paths.owner_of_collection(response.request.url.path)
        if owner is None:
            return
        response.read()
        try:
            body = response.json()
        except ValueError:
            return
        if isinstance(body, dict) and "id" in body:
            self.by_user[owner].add(str(body["id"]))


@dataclass(frozen=True)
class Cleaned:
    deleted: int
    left: int | None  # None when the user's list could not be read afterwards

    @property
    def clean(self) -> bool:
        return self.left == 0


def clean_user(client: httpx.Client, user: ApiUser, created: CreatedTasks) -> Cleaned:
    """Delete every task of `user` (any answer is fine), then list again to see what is left."""
    before = snapshot_tasks(client, user)
    ids = created.by_user.pop(user.id, set()) | set(before.by_id)
    deleted = 0
    for task_id in sorted(ids):
        response = client.delete(user.tasks_url(task_id), headers=user.headers)
        deleted += response.is_success
    after = snapshot_tasks(client, user)
    return Cleaned(deleted, None if after.tasks is None else len(after.tasks))
