"""What every load-test response must satisfy: the task shape, and that it holds only the virtual user's own tasks.

Requirement LOAD-ISOLATION: under load, no virtual user ever sees another user's task.
Kept free of Locust (which monkey-patches the process) so the spec suite can test these checks directly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from loadtests.slo import ISOLATION_BREACH

TASK_FIELDS = frozenset({"id", "title", "description", "completed", "created_at", "updated_at", "completed_at"})
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class ContractError(Exception):
    """A response broke the contract; the message names how (and is the failure's name in the report)."""


def shape_problem(task: Any) -> str | None:
    """Why `task` is not a task as the API documents it, or None."""
    if not isinstance(task, dict):
        return "a task is not a JSON object"
    if set(task) != TASK_FIELDS:
        return "a task has missing or extra fields"
    if not isinstance(task["id"], int) or isinstance(task["id"], bool) or task["id"] < 1:
        return "a task id is not a positive integer"
    if not isinstance(task["title"], str) or not isinstance(task["completed"], bool):
        return "a task title or completed flag has the wrong type"
    if task["description"] is not None and not isinstance(task["description"], str):
        return "a task description has the wrong type"
    if (task["completed_at"] is not None) != task["completed"]:
        return "completed_at disagrees with completed"
    return None


@dataclass
class OwnTasks:
    """The tasks one virtual user created. Titles carry its marker, so a task it lost track of (a create whose
    answer never arrived) is still recognisably its own, while any other task is an isolation breach.

    Several virtual users may share one account (a tokens file with fewer users than virtual users). `account` is
    then the account's user id, and each virtual user's marker is "<account> vu-<tag>": a task whose title starts
    with "<account> " belongs to the account (a sibling virtual user's), so it is no breach, but it is never adopted
    or acted on; only tasks of other accounts are breaches. Without `account` the marker is the account."""

    marker: str
    titles: dict[int, str] = field(default_factory=dict)
    completed: dict[int, bool] = field(default_factory=dict)
    account: str | None = None

    def title(self, n: int) -> str:
        return f"{self.marker} task {n}"

    def remember(self, task: Mapping[str, Any]) -> None:
        self.titles[task["id"]] = task["title"]
        self.completed[task["id"]] = task["completed"]

    def forget(self, task_id: int) -> None:
        self.titles.pop(task_id, None)
        self.completed.pop(task_id, None)

    def is_own(self, task: Mapping[str, Any]) -> bool:
        """This virtual user's own task: one it tracks, or one whose title carries its marker."""
        return task["id"] in self.titles or str(task.get("title", "")).startswith(f"{self.marker} ")

    def in_account(self, task: Mapping[str, Any]) -> bool:
        """A task of the account this virtual user acts as: its own, or a sibling's on the same account."""
        return self.is_own(task) or str(task.get("title", "")).startswith(f"{self.account or self.marker} ")


def check_task(own: OwnTasks, task: Any, *, expected_id: int | None = None) -> dict[str, Any]:
    problem = shape_problem(task)
    if problem is not None:
        raise ContractError(problem)
    if (expected_id is not None and task["id"] != expected_id) or not own.in_account(task):
        raise ContractError(f"{ISOLATION_BREACH}: a response carried a task of another user")
    result: dict[str, Any] = task
    return result


def check_page(own: OwnTasks, body: Any, *, limit: int) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise ContractError("the list response is not a JSON array")
    if len(body) > limit:
        raise ContractError("the list response is longer than the requested limit")
    page = [check_task(own, task) for task in body]
    for task in page:
        if task["id"] not in own.titles and own.is_own(task):
            own.remember(task)  # a create whose answer was lost: adopt it (never a sibling's task)
    return page


def next_page_path(link_header: str | None, own_tasks_path: str) -> str | None:
    """The path+query of Link rel="next", which must stay under the user's own tasks path."""
    if not link_header:
        return None
    match = _NEXT_LINK.search(link_header)
    if match is None:
        return None
    target = urlsplit(match.group(1))
    if unquote(target.path) != unquote(own_tasks_path):  # a user id of a tokens file may need percent-encoding
        raise ContractError(f"{ISOLATION_BREACH}: the next-page link points outside the user's own tasks")
    return f"{target.path}?{target.query}" if target.query else target.path
