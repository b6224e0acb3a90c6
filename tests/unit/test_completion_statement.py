"""The completion UPDATE, built by `_completion` and run on the real PostgreSQL.

The repository builds its statements once, at import. These tests build the completion statement themselves, so a
change to how it is built shows up here (mutation testing can only change code that runs during a test).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Boolean, Engine, Executable, bindparam

from backend.tasks import repository
from backend.tasks.repository import tasks
from backend.tasks.schemas import TaskWrite
from tests.support.users import new_user_id


def set_statement() -> Executable:
    return repository._completion(bindparam("new_state", type_=Boolean))


def toggle_statement() -> Executable:
    return repository._completion(~tasks.c.completed)


def new_task(engine: Engine, user_id: str, title: str = "t") -> dict[str, Any]:
    return dict(repository.create_task(engine, user_id, TaskWrite(title=title))._mapping)


def run(engine: Engine, statement: Executable, user_id: str, task_id: int, **params: Any) -> dict[str, Any] | None:
    row = repository._one(engine, statement, {"task_id": task_id, "owner": user_id, **params})
    return None if row is None else dict(row._mapping)


def get(engine: Engine, user_id: str, task_id: int) -> dict[str, Any]:
    row = repository.get_task(engine, user_id, task_id)
    assert row is not None
    return dict(row._mapping)


@pytest.mark.req("API-SET-COMPLETE")
def test_completing_sets_completed_at_and_updated_at(engine: Engine) -> None:
    user = new_user_id("complete")
    task = new_task(engine, user)
    done = run(engine, set_statement(), user, task["id"], new_state=True)
    assert done is not None
    assert done["completed"] is True
    assert done["completed_at"] is not None
    assert done["completed_at"] >= task["created_at"]
    assert done["updated_at"] > task["updated_at"]
    assert (done["title"], done["id"]) == (task["title"], task["id"])
    assert get(engine, user, task["id"]) == done


@pytest.mark.req("API-SET-COMPLETE")
def test_completing_again_keeps_the_first_completed_at(engine: Engine) -> None:
    user = new_user_id("complete")
    task = new_task(engine, user)
    first = run(engine, set_statement(), user, task["id"], new_state=True)
    again = run(engine, set_statement(), user, task["id"], new_state=True)
    assert first is not None
    assert again is not None
    assert again["completed"] is True
    assert again["completed_at"] == first["completed_at"]


@pytest.mark.req("API-SET-COMPLETE")
def test_reopening_clears_completed_at(engine: Engine) -> None:
    user = new_user_id("reopen")
    task = new_task(engine, user)
    run(engine, set_statement(), user, task["id"], new_state=True)
    reopened = run(engine, set_statement(), user, task["id"], new_state=False)
    assert reopened is not None
    assert (reopened["completed"], reopened["completed_at"]) == (False, None)


@pytest.mark.req("API-TOGGLE")
def test_toggling_flips_completion_and_completed_at(engine: Engine) -> None:
    user = new_user_id("toggle")
    task = new_task(engine, user)
    on = run(engine, toggle_statement(), user, task["id"])
    off = run(engine, toggle_statement(), user, task["id"])
    assert on is not None
    assert off is not None
    assert (on["completed"], on["completed_at"] is not None) == (True, True)
    assert (off["completed"], off["completed_at"]) == (False, None)


@pytest.mark.req("ISO-MATRIX", "API-SET-COMPLETE")
def test_only_the_owners_named_task_changes(engine: Engine) -> None:
    owner, other = new_user_id("owner"), new_user_id("other")
    task, sibling = new_task(engine, owner, "target"), new_task(engine, owner, "sibling")
    theirs = new_task(engine, other, "theirs")
    assert run(engine, set_statement(), other, task["id"], new_state=True) is None
    assert get(engine, owner, task["id"]) == task
    assert run(engine, set_statement(), owner, task["id"], new_state=True) is not None
    assert get(engine, owner, sibling["id"]) == sibling
    assert get(engine, other, theirs["id"]) == theirs
