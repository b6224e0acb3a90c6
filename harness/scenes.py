"""Scenes the specs play: users with a task each, whose data the probes try to reach.

Task titles carry a random marker, so a response that shows another user's task is recognised by its title alone.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from harness import checks
from harness.credentials import UserLease
from harness.judgements import Watch, refused_token
from harness.tokens import Minter
from harness.users import ApiUser, create_task
from harness.verdicts import Judge

ATTACK_BODY = {"title": "pwned"}


def private_title(owner: str) -> str:
    """A title no other request could produce: its presence in a response means that task was read."""
    return f"{owner}'s private task {uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Owner:
    """A user with one task of their own."""

    user: ApiUser
    task: dict[str, Any]

    @property
    def task_id(self) -> str:
        return str(self.task["id"])

    @property
    def private(self) -> tuple[str | None, ...]:
        """What only this user may see: the task's title and description."""
        return (self.task.get("title"), self.task.get("description"))


def make_owner(client: httpx.Client, user: ApiUser, role: str) -> Owner:
    return Owner(user, create_task(client, user, private_title(role), description=private_title(f"{role} note")))


@dataclass(frozen=True)
class Victim(Owner):
    """A user with a task that every attack aims a write at, then proves unchanged."""

    client: httpx.Client | None = None

    @property
    def task_url(self) -> str:
        return self.user.tasks_url(self.task_id)

    def attempt(self, token: str | None = None, headers: Any = None, **kwargs: Any) -> httpx.Response:
        assert self.client is not None
        if headers is None:
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return self.client.put(self.task_url, json=ATTACK_BODY, headers=headers, **kwargs)

    def refuses(
        self,
        judge: Judge,
        requirement: str,
        token: str | None = None,
        headers: Any = None,
        challenge: re.Pattern[str] = checks.INVALID_TOKEN,
        *,
        forbidden: bool = False,
        seed: tuple[int, ...] | None = (401, 403),
        **kwargs: Any,
    ) -> httpx.Response:
        """The attack (a PUT on the victim's task) is refused and the victim's tasks are exactly as they were.
        This backend answers 401 with `challenge`, or 403 when the token is valid for someone else (`forbidden`)."""
        assert self.client is not None
        watch = Watch.of(self.client, self.user)
        response = self.attempt(token, headers, **kwargs)
        refused_token(judge, requirement, response, watch, token=token, seed=seed)
        if forbidden:
            judge.expect("ERR-403", checks.problem(response, 403, "forbidden"), response)
        else:
            judge.expect("ERR-401", checks.unauthorized(response, challenge), response)
        return response

    def accepts(self, judge: Judge, requirement: str, token: str) -> httpx.Response:
        """Positive control: a read of the victim's task with this token is served, and shows the task."""
        assert self.client is not None
        response = self.client.get(self.task_url, headers={"Authorization": f"Bearer {token}"})
        judge.expect(requirement, checks.success(response), response)
        judge.expect(requirement, checks.shows(response, self.task), response)
        return response


def make_victim(client: httpx.Client, user: ApiUser) -> Victim:
    owner = make_owner(client, user, "victim")
    return Victim(owner.user, owner.task, client)


@dataclass(frozen=True)
class Scene:
    """The taxonomy's scene: the path's owner and an intruder, each with a task; tokens from `minter`."""

    owner: Owner
    intruder: Owner
    minter: Minter


def build_scene(client: httpx.Client, make_user: UserLease, minter: Minter) -> Scene:
    return Scene(
        make_owner(client, make_user("owner"), "owner"),
        make_owner(client, make_user("intruder"), "intruder"),
        minter,
    )
