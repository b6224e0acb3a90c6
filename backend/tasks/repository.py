"""Data access for tasks. Every statement is scoped by user_id: another user's row is simply not found."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, case, delete, func, insert, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import Session

from backend.db.models import Task, User
from backend.tasks.pagination import Cursor, SortOrder, StatusFilter
from backend.tasks.schemas import TaskWrite

tasks = Task.__table__  # type: ignore[attr-defined]
users = User.__table__  # type: ignore[attr-defined]
_COLUMNS = (
    tasks.c.id,
    tasks.c.title,
    tasks.c.description,
    tasks.c.completed,
    tasks.c.created_at,
    tasks.c.updated_at,
    tasks.c.completed_at,
)


def _one(session: Session, statement: Any) -> Row[Any] | None:
    return session.execute(statement).first()


def list_tasks(
    session: Session,
    user_id: str,
    *,
    status: StatusFilter,
    sort: SortOrder,
    limit: int,
    after: Cursor | None,
) -> Sequence[Row[Any]]:
    """One page plus one extra row, which tells the caller whether a next page exists."""
    key = tasks.c[sort.column]
    query = select(*_COLUMNS).where(tasks.c.user_id == user_id)
    if status is not StatusFilter.ALL:
        query = query.where(tasks.c.completed == (status is StatusFilter.COMPLETED))
    if after is not None:
        position = tuple_(key, tasks.c.id)
        boundary = tuple_(after.value, after.id)
        query = query.where(position < boundary if sort.descending else position > boundary)
    order = (key.desc(), tasks.c.id.desc()) if sort.descending else (key.asc(), tasks.c.id.asc())
    return session.execute(query.order_by(*order).limit(limit + 1)).all()


def get_task(session: Session, user_id: str, task_id: int) -> Row[Any] | None:
    return _one(session, select(*_COLUMNS).where(tasks.c.id == task_id, tasks.c.user_id == user_id))


def create_task(session: Session, user_id: str, data: TaskWrite) -> Row[Any]:
    # First use of a valid token creates the user row; ON CONFLICT makes concurrent first requests safe.
    session.execute(pg_insert(users).values(id=user_id).on_conflict_do_nothing(index_elements=["id"]))
    row = _one(
        session,
        insert(tasks).values(user_id=user_id, title=data.title, description=data.description).returning(*_COLUMNS),
    )
    session.commit()
    assert row is not None
    return row


def replace_task(session: Session, user_id: str, task_id: int, data: TaskWrite) -> Row[Any] | None:
    row = _one(
        session,
        update(tasks)
        .where(tasks.c.id == task_id, tasks.c.user_id == user_id)
        .values(title=data.title, description=data.description, updated_at=func.now())
        .returning(*_COLUMNS),
    )
    session.commit()
    return row


def set_completion(session: Session, user_id: str, task_id: int, completed: bool | None) -> Row[Any] | None:
    """Toggle (completed=None) or set completion in one atomic UPDATE: concurrent toggles never lose a flip."""
    new_state = ~tasks.c.completed if completed is None else literal(completed)
    row = _one(
        session,
        update(tasks)
        .where(tasks.c.id == task_id, tasks.c.user_id == user_id)
        .values(
            completed=new_state,
            # Right-hand sides see the row as it was before this UPDATE.
            completed_at=case(
                (tasks.c.completed == new_state, tasks.c.completed_at),
                (new_state, func.now()),
                else_=None,
            ),
            updated_at=func.now(),
        )
        .returning(*_COLUMNS),
    )
    session.commit()
    return row


def delete_task(session: Session, user_id: str, task_id: int) -> bool:
    deleted = _one(
        session, delete(tasks).where(tasks.c.id == task_id, tasks.c.user_id == user_id).returning(tasks.c.id)
    )
    session.commit()
    return deleted is not None
