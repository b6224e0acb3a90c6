"""Data access for tasks. Every statement is scoped by user_id: another user's row is simply not found.

Statements are written once with SQLAlchemy Core (typed against the models), compiled once to SQL text, and run on
the app's psycopg pool (`backend/db/pool.py`): one statement per call, on an autocommit connection, so PostgreSQL
needs no BEGIN and COMMIT/ROLLBACK round trips around it (measured: specs/performance.md).
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import (
    Boolean,
    ClauseElement,
    ColumnElement,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.sql.compiler import SQLCompiler

from backend.db.models import Task, User
from backend.db.pool import RequestPool
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
TASK_FIELDS = tuple(column.name for column in _COLUMNS)
TaskRow = dict[str, Any]
_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]


def _compile(statement: ClauseElement) -> str:
    """psycopg's SQL text for a Core statement; every value is a bound parameter the caller supplies."""
    compiled = statement.compile(dialect=_DIALECT)
    assert isinstance(compiled, SQLCompiler)
    if not all(bind.required for bind in compiled.binds.values()):
        raise RuntimeError(f"statement carries a bound value the caller would not supply: {compiled}")
    return str(compiled)


async def _rows(pool: RequestPool, sql: str, params: dict[str, Any]) -> list[TaskRow]:
    async with pool.connection() as connection:
        cursor = await connection.execute(sql, params)
        return await cursor.fetchall()


async def _one(pool: RequestPool, sql: str, params: dict[str, Any]) -> TaskRow | None:
    rows = await _rows(pool, sql, params)
    return rows[0] if rows else None


# The fixed statements are built once, with bound parameters: building a statement per call costs more CPU than
# PostgreSQL takes to run it (measured: specs/performance.md). Parameter names differ from column names, which
# INSERT/UPDATE reserve for their own VALUES/SET parameters.
_OWN_TASK = (tasks.c.id == bindparam("task_id"), tasks.c.user_id == bindparam("owner"))
_GET = _compile(select(*_COLUMNS).where(*_OWN_TASK))
# First use of a valid token creates the user row, in the same statement: ON CONFLICT makes concurrent first
# requests safe, and the foreign key is checked at the end of the statement, after the CTE's insert.
_CREATE = _compile(
    insert(tasks)
    .values(user_id=bindparam("owner"), title=bindparam("new_title"), description=bindparam("new_description"))
    .returning(*_COLUMNS)
    .add_cte(pg_insert(users).values(id=bindparam("owner")).on_conflict_do_nothing(index_elements=["id"]).cte())
)
_REPLACE = _compile(
    update(tasks)
    .where(*_OWN_TASK)
    .values(title=bindparam("new_title"), description=bindparam("new_description"), updated_at=func.now())
    .returning(*_COLUMNS)
)
_DELETE = _compile(delete(tasks).where(*_OWN_TASK).returning(tasks.c.id))


def _completion(new_state: ColumnElement[bool]) -> str:
    """One atomic UPDATE: concurrent toggles never lose a flip."""
    return _compile(
        update(tasks)
        .where(*_OWN_TASK)
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
        .returning(*_COLUMNS)
    )


_TOGGLE = _completion(~tasks.c.completed)
_SET_COMPLETION = _completion(bindparam("new_state", type_=Boolean))


@functools.cache
def _list_statement(status: StatusFilter, sort: SortOrder, paged: bool) -> str:
    """The list query for one filter, sort order and first/next page: 36 shapes, each built once."""
    key = tasks.c[sort.column]
    query = select(*_COLUMNS).where(tasks.c.user_id == bindparam("owner"))
    if status is not StatusFilter.ALL:
        query = query.where(tasks.c.completed == (status is StatusFilter.COMPLETED))
    if paged:
        position = tuple_(key, tasks.c.id)
        boundary = tuple_(bindparam("after_value", type_=key.type), bindparam("after_id", type_=tasks.c.id.type))
        query = query.where(position < boundary if sort.descending else position > boundary)
    order = (key.desc(), tasks.c.id.desc()) if sort.descending else (key.asc(), tasks.c.id.asc())
    return _compile(query.order_by(*order).limit(bindparam("page_rows")))


async def list_tasks(
    pool: RequestPool,
    user_id: str,
    *,
    status: StatusFilter,
    sort: SortOrder,
    limit: int,
    after: Cursor | None,
) -> list[TaskRow]:
    """One page plus one extra row, which tells the caller whether a next page exists."""
    params: dict[str, Any] = {"owner": user_id, "page_rows": limit + 1}
    if after is not None:
        params.update(after_value=after.value, after_id=after.id)
    return await _rows(pool, _list_statement(status, sort, after is not None), params)


async def get_task(pool: RequestPool, user_id: str, task_id: int) -> TaskRow | None:
    return await _one(pool, _GET, {"task_id": task_id, "owner": user_id})


async def create_task(pool: RequestPool, user_id: str, data: TaskWrite) -> TaskRow:
    row = await _one(pool, _CREATE, {"owner": user_id, "new_title": data.title, "new_description": data.description})
    assert row is not None
    return row


async def replace_task(pool: RequestPool, user_id: str, task_id: int, data: TaskWrite) -> TaskRow | None:
    params = {"task_id": task_id, "owner": user_id, "new_title": data.title, "new_description": data.description}
    return await _one(pool, _REPLACE, params)


async def set_completion(pool: RequestPool, user_id: str, task_id: int, completed: bool | None) -> TaskRow | None:
    """Toggle (completed=None) or set completion."""
    params: dict[str, Any] = {"task_id": task_id, "owner": user_id}
    if completed is None:
        return await _one(pool, _TOGGLE, params)
    return await _one(pool, _SET_COMPLETION, {**params, "new_state": completed})


async def delete_task(pool: RequestPool, user_id: str, task_id: int) -> bool:
    return await _one(pool, _DELETE, {"task_id": task_id, "owner": user_id}) is not None
