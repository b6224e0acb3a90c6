"""Data access for tasks. Every statement is scoped by user_id: another user's row is simply not found.

Every change increments the task's `version` (its strong ETag). A conditional change (If-Match) checks the version in
the same UPDATE or DELETE (`WHERE version = ANY(...)`), never as a read-then-write; a CTE reads the task alongside, so
one statement tells "no such task" (404) from "changed since" (412). Only when a concurrent change wins the row lock
does a second read fetch the version the 412 reports. A create under an Idempotency-Key claims the key
and creates the task in one statement too, or finds the original to replay.

Statements are written once with SQLAlchemy Core (typed against the models), compiled once to SQL text, and run on
the app's psycopg pool (`backend/db/pool.py`): one statement per call, on an autocommit connection, so PostgreSQL
needs no BEGIN and COMMIT/ROLLBACK round trips around it (measured: specs/performance.md).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    ClauseElement,
    ColumnElement,
    DateTime,
    Delete,
    Interval,
    String,
    Update,
    any_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    false,
    func,
    insert,
    literal_column,
    select,
    true,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.sql.compiler import SQLCompiler

from backend.db.models import IdempotencyKey, Task, User
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
TaskRow = dict[str, Any]  # one task, plus its "version" where a statement returns it (routes pop it into the ETag)
keys = IdempotencyKey.__table__  # type: ignore[attr-defined]
PURGE_BATCH = 10  # expired keys of the same user deleted by each keyed create, so no table grows without a cron
_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]


def _compile(statement: ClauseElement) -> str:
    """psycopg's SQL text for a Core statement; every value is a bound parameter the caller supplies."""
    compiled = statement.compile(dialect=_DIALECT)
    if not isinstance(compiled, SQLCompiler) or not all(bind.required for bind in compiled.binds.values()):
        raise RuntimeError(f"statement carries a bound value the caller would not supply: {compiled}")
    return str(compiled)


async def _rows(pool: RequestPool, sql: str, params: dict[str, Any]) -> list[TaskRow]:
    return await pool.fetch(sql, params)


async def _one(pool: RequestPool, sql: str, params: dict[str, Any]) -> TaskRow | None:
    rows = await pool.fetch(sql, params)
    return rows[0] if rows else None


# The fixed statements are built once, with bound parameters: building a statement per call costs more CPU than
# PostgreSQL takes to run it (measured: specs/performance.md). Parameter names differ from column names, which
# INSERT/UPDATE reserve for their own VALUES/SET parameters.
_OWN_TASK = (tasks.c.id == bindparam("task_id"), tasks.c.user_id == bindparam("owner"))
_VERSIONED = (*_COLUMNS, tasks.c.version)
_NEXT_VERSION = {"version": tasks.c.version + literal_column("1")}
# If-Match: the change happens only on a version the client names (inside the UPDATE/DELETE, so concurrent writers
# with the same tag cannot both win: PostgreSQL re-checks the WHERE on the row it locked).
_EXPECTED = tasks.c.version == any_(bindparam("expected", type_=ARRAY(BigInteger)))
_GET = _compile(select(*_VERSIONED).where(*_OWN_TASK))
# First use of a valid token creates the user row, in the same statement: ON CONFLICT makes concurrent first
# requests safe, and the foreign key is checked at the end of the statement, after the CTE's insert.
_NEW_USER = pg_insert(users).values(id=bindparam("owner")).on_conflict_do_nothing(index_elements=["id"]).cte()
_CREATE = _compile(
    insert(tasks)
    .values(user_id=bindparam("owner"), title=bindparam("new_title"), description=bindparam("new_description"))
    .returning(*_VERSIONED)
    .add_cte(_NEW_USER)
)
_REPLACE_VALUES = {
    "title": bindparam("new_title"),
    "description": bindparam("new_description"),
    "updated_at": func.now(),
    **_NEXT_VERSION,
}
_REPLACE = update(tasks).where(*_OWN_TASK).values(_REPLACE_VALUES).returning(*_VERSIONED)
_DELETE = delete(tasks).where(*_OWN_TASK).returning(tasks.c.id, tasks.c.version)


def _completion(new_state: ColumnElement[bool]) -> Update:
    """One atomic UPDATE: concurrent toggles never lose a flip."""
    return (
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
            **_NEXT_VERSION,
        )
        .returning(*_VERSIONED)
    )


def _conditional(change: Update | Delete) -> str:
    """`change` made only on an expected version, beside a read of the task: no row = no such task; a row whose
    changed columns are NULL = the version differed (`current_version` says what it is)."""
    target = select(tasks.c.version.label("current_version")).where(*_OWN_TASK).cte("target")
    changed = change.where(_EXPECTED).cte("changed")
    return _compile(select(changed, target.c.current_version).select_from(target.outerjoin(changed, true())))


_TOGGLE = _completion(~tasks.c.completed)
_SET_COMPLETION = _completion(bindparam("new_state", type_=Boolean))
_STATEMENTS = {
    "replace": (_compile(_REPLACE), _conditional(_REPLACE)),
    "toggle": (_compile(_TOGGLE), _conditional(_TOGGLE)),
    "set": (_compile(_SET_COMPLETION), _conditional(_SET_COMPLETION)),
    "delete": (_compile(_DELETE), _conditional(_DELETE)),
}

# A create under an Idempotency-Key, in one statement: claim the key (or reclaim it once expired) with the next task
# id, create the task with that id, purge a few of the user's expired keys; or, when the key is held, replay the
# original 201 from the key's row (the first answer is fully determined by the id, the fields and the time).
_RETAINED = keys.c.created_at >= func.now() - bindparam("retention", type_=Interval)
_CLAIM_VALUES = pg_insert(keys).values(
    user_id=bindparam("owner"),
    key=bindparam("idem_key"),
    request_hash=bindparam("request_hash"),
    task_id=literal_column("nextval(pg_get_serial_sequence('tasks', 'id'))"),
    title=bindparam("new_title"),
    description=bindparam("new_description"),
)
_CLAIM = _CLAIM_VALUES.on_conflict_do_update(
    index_elements=["user_id", "key"],
    set_={name: _CLAIM_VALUES.excluded[name] for name in ("request_hash", "task_id", "title", "description")}
    | {"created_at": func.now()},
    where=~_RETAINED,
).returning(keys.c.task_id, keys.c.created_at)


def _create_once() -> str:
    claim = _CLAIM.cte("claim")
    created = (
        insert(tasks)
        .from_select(
            ["id", "user_id", "title", "description", "created_at", "updated_at"],
            select(
                claim.c.task_id,
                bindparam("owner", type_=String),
                bindparam("new_title", type_=String),
                bindparam("new_description", type_=String),
                claim.c.created_at,
                claim.c.created_at,
            ),
        )
        .returning(*_VERSIONED)
        .cte("created")
    )
    expired = (
        select(keys.c.key)
        .where(keys.c.user_id == bindparam("owner"), keys.c.key != bindparam("idem_key"), ~_RETAINED)
        .limit(bindparam("purge_batch"))
    )
    purge = delete(keys).where(keys.c.user_id == bindparam("owner"), keys.c.key.in_(expired)).cte("purge")
    fresh = select(literal_column("'created'").label("outcome"), *created.c, cast(None, String).label("request_hash"))
    replayed = select(
        literal_column("'replayed'"),
        keys.c.task_id,
        keys.c.title,
        keys.c.description,
        false(),
        keys.c.created_at,
        keys.c.created_at,
        cast(None, DateTime(timezone=True)),
        literal_column("1::bigint"),
        keys.c.request_hash,
    ).where(
        keys.c.user_id == bindparam("owner"),
        keys.c.key == bindparam("idem_key"),
        _RETAINED,
        ~exists(select(claim.c.task_id)),
    )
    return _compile(union_all(fresh, replayed).add_cte(_NEW_USER).add_cte(purge))


_CREATE_ONCE = _create_once()
_PURGE = _compile(
    delete(keys)
    .where(
        tuple_(keys.c.user_id, keys.c.key).in_(
            select(keys.c.user_id, keys.c.key).where(~_RETAINED).limit(bindparam("purge_batch"))
        )
    )
    .returning(keys.c.key)
)


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
    rows = await pool.fetch(_CREATE, {"owner": user_id, "new_title": data.title, "new_description": data.description})
    return rows[0]  # INSERT ... RETURNING: always one row


@dataclass(frozen=True)
class Created:
    """A create under an Idempotency-Key: the task, and whether this answer replays an earlier one; `request_hash`
    is the earlier request's, when replayed."""

    row: TaskRow
    replayed: bool
    request_hash: str | None


async def create_task_once(
    pool: RequestPool, user_id: str, data: TaskWrite, key: str, request_hash: str, retention: timedelta
) -> Created | None:
    """Create, or replay the create this key already made; None while another request holds the key."""
    params = {
        "owner": user_id,
        "idem_key": key,
        "request_hash": request_hash,
        "new_title": data.title,
        "new_description": data.description,
        "retention": retention,
        "purge_batch": PURGE_BATCH,
    }
    row = await _one(pool, _CREATE_ONCE, params)
    if row is None:
        return None
    outcome, earlier = row.pop("outcome"), row.pop("request_hash")
    return Created(row, replayed=outcome == "replayed", request_hash=earlier)


@dataclass(frozen=True)
class Changed:
    """A change's outcome: `row` when made; else `current_version` when the task exists at another version; else
    neither (no such task for this user)."""

    row: TaskRow | None
    current_version: int | None = None


async def _change(pool: RequestPool, name: str, params: dict[str, Any], expected: list[int] | None) -> Changed:
    plain, conditional = _STATEMENTS[name]
    if expected is None:
        return Changed(await _one(pool, plain, params))
    row = await _one(pool, conditional, {**params, "expected": expected})
    if row is None:
        return Changed(None)
    current = row.pop("current_version")
    if row["id"] is not None:
        return Changed(row, None)
    if current in expected:
        # The statement's snapshot saw an expected version, but a concurrent change committed first (PostgreSQL
        # re-checked the WHERE on the locked row and it failed): report the version as it is now.
        now = await _one(pool, _GET, {"task_id": params["task_id"], "owner": params["owner"]})
        return Changed(None, now["version"] if now is not None else None)
    return Changed(None, current)


async def replace_task(
    pool: RequestPool, user_id: str, task_id: int, data: TaskWrite, expected: list[int] | None = None
) -> Changed:
    params = {"task_id": task_id, "owner": user_id, "new_title": data.title, "new_description": data.description}
    return await _change(pool, "replace", params, expected)


async def set_completion(
    pool: RequestPool, user_id: str, task_id: int, completed: bool | None, expected: list[int] | None = None
) -> Changed:
    """Toggle (completed=None) or set completion."""
    params: dict[str, Any] = {"task_id": task_id, "owner": user_id}
    if completed is None:
        return await _change(pool, "toggle", params, expected)
    return await _change(pool, "set", {**params, "new_state": completed}, expected)


async def delete_task(pool: RequestPool, user_id: str, task_id: int, expected: list[int] | None = None) -> Changed:
    return await _change(pool, "delete", {"task_id": task_id, "owner": user_id}, expected)


async def purge_expired_keys(pool: RequestPool, retention: timedelta, batch: int = 1000) -> int:
    """Delete every idempotency key older than `retention`, `batch` rows per statement; returns how many."""
    total = 0
    while True:
        rows = await _rows(pool, _PURGE, {"retention": retention, "purge_batch": batch})
        total += len(rows)
        if len(rows) < batch:
            return total
