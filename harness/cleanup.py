"""Target mode: what a run against a deployment creates, it deletes again (only its own uuid-named users' tasks)."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from harness.users import ApiUser, list_all


def delete_all_tasks(client: httpx.Client, user: ApiUser) -> None:
    for task in list_all(client, user):
        response = client.delete(user.tasks_url(task["id"]), headers=user.headers)
        assert response.status_code in (204, 404), response.text


@dataclass
class CreatedUsers:
    """The users one test made; `clean` deletes every task they still own."""

    client: httpx.Client
    users: list[ApiUser] = field(default_factory=list)

    def add(self, user: ApiUser) -> ApiUser:
        self.users.append(user)
        return user

    def clean(self) -> None:
        for user in self.users:
            delete_all_tasks(self.client, user)
