"""The completion UPDATE, built by `_completion` and run on the real PostgreSQL.

The repository builds its statements once, at import. These tests build the completion statement themselves, so a
change to how it is built shows up here (mutation testing can only change code that runs during a test).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Boolean, bindparam, select

from backend.tasks import repository
from backend.tasks.repository import tasks
from backend.tasks.schemas import TaskWrite
from harness.calls import Repository
from harness.users import new_user_id


def set_statement() -> str:
    return repository._compile(repository._completion(bindparam("new_state", type_=Boolean)))


def toggle_statement() -> str:
    return repository._compile(repository._completion(~tasks.c.completed))


def new_task(repo: Repository, user_id: str, title: str = "t") -> dict[str, Any]:
    return repo(repository.create_task, user_id, TaskWrite(title=title))


def run(repo: Repository, sql: str, user_id: str, task_id: int, **params: Any) -> dict[str, Any] | None:
    return repo(repository._one, sql, {"task_id": task_id, "owner": user_id, **params})


def get(repo: Repository, user_id: str, task_id: int) -> dict[str, Any]:
    row = repo(repository.get_task, user_id, task_id)
    assert row is not None
    return row


@pytest.mark.req("API-SET-COMPLETE")
def test_completing_sets_completed_at_and_updated_at(repo: Repository) -> None:
    user = new_user_id("complete")
    task = new_task(repo, user)
    done = run(repo, set_statement(), user, task["id"], new_state=True)
    assert done is not None
    assert done["completed"] is True
    assert done["completed_at"] is not None
    assert done["completed_at"] >= task["created_at"]
    assert done["updated_at"] > task["updated_at"]
    assert (done["title"], done["id"]) == (task["title"], task["id"])
    assert get(repo, user, task["id"]) == done


@pytest.mark.req("API-SET-COMPLETE")
def test_completing_again_keeps_the_first_completed_at(repo: Repository) -> None:
    user = new_user_id("complete")
    task = new_task(repo, user)
    first = run(repo, set_statement(), user, task["id"], new_state=True)
    again = run(repo, set_statement(), user, task["id"], new_state=True)
    assert first is not None
    assert again is not None
    assert again["completed"] is True
    assert again["completed_at"] == first["completed_at"]


@pytest.mark.req("API-SET-COMPLETE")
def test_reopening_clears_completed_at(repo: Repository) -> None:
    user = new_user_id("reopen")
    task = new_task(repo, user)
    run(repo, set_statement(), user, task["id"], new_state=True)
    reopened = run(repo, set_statement(), user, task["id"], new_state=False)
    assert reopened is not None
    assert (reopened["completed"], reopened["completed_at"]) == (False, None)


@pytest.mark.req("API-TOGGLE")
def test_toggling_flips_completion_and_completed_at(repo: Repository) -> None:
    user = new_user_id("toggle")
    task = new_task(repo, user)
    on = run(repo, toggle_statement(), user, task["id"])
    off = run(repo, toggle_statement(), user, task["id"])
    assert on is not None
    assert off is not None
    assert (on["completed"], on["completed_at"] is not None) == (True, True)
    assert (off["completed"], off["completed_at"]) == (False, None)


@pytest.mark.req("ISO-MATRIX", "API-SET-COMPLETE")
def test_only_the_owners_named_task_changes(repo: Repository) -> None:
    owner, other = new_user_id("owner"), new_user_id("other")
    task, sibling = new_task(repo, owner, "target"), new_task(repo, owner, "sibling")
    theirs = new_task(repo, other, "theirs")
    assert run(repo, set_statement(), other, task["id"], new_state=True) is None
    assert get(repo, owner, task["id"]) == task
    assert run(repo, set_statement(), owner, task["id"], new_state=True) is not None
    assert get(repo, owner, sibling["id"]) == sibling
    assert get(repo, other, theirs["id"]) == theirs


@pytest.mark.req("ISO-MATRIX")
def test_a_statement_carrying_its_own_value_is_refused_when_compiled() -> None:
    # Compiled text keeps only the parameter's name: a value baked into the statement (an owner filter, say) would be
    # silently lost.
    with pytest.raises(RuntimeError, match="bound value the caller would not supply"):
        repository._compile(select(tasks.c.id).where(tasks.c.title == bindparam("title", value="x")))
