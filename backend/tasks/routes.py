"""Routes for /api/{user_id}/tasks. Dependencies run in order: CurrentUser (401/403), then the body (415/422)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BeforeValidator
from pydantic_core import to_json

from backend.auth.dependencies import CurrentUser
from backend.deps import PoolDep
from backend.errors import NOT_A_TASK, ProblemError
from backend.json_body import JsonBody
from backend.openapi_docs import problem_responses, task_links
from backend.tasks import repository
from backend.tasks.pagination import MAX_ID, Cursor, SortOrder, StatusFilter, decode_cursor
from backend.tasks.repository import TaskRow
from backend.tasks.schemas import CompletionUpdate, TaskRead, TaskWrite

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

router = APIRouter(prefix="/api/{user_id}/tasks", tags=["tasks"])


def _canonical_id(value: object) -> object:
    # Only the canonical decimal spelling names a task: "1.0", "+1", "01" or "1_000" are 422s, not aliases of 1.
    if isinstance(value, str) and not _CANONICAL_ID.fullmatch(value):
        raise ValueError("must be a positive whole number written in decimal digits")
    return value


_CANONICAL_ID = re.compile(r"[1-9][0-9]{0,18}")
# Path(...) first: with a validator ahead of it, FastAPI emits ge/le as they are instead of minimum/maximum.
TaskId = Annotated[
    int, PathParam(ge=1, le=MAX_ID, description="The task id.", examples=[42]), BeforeValidator(_canonical_id)
]
NewTask = Annotated[TaskWrite, Depends(JsonBody(TaskWrite, example={"title": "Buy milk", "description": "2 litres"}))]
Completion = Annotated[
    CompletionUpdate | None, Depends(JsonBody(CompletionUpdate, example={"completed": True}, required=False))
]

_AUTH_ERRORS = (401, 403, 503, 500)


def _not_found() -> ProblemError:
    # Identical whether the id is unused or another user's: ids cannot be probed.
    return ProblemError(404, NOT_A_TASK)


# Rows are serialised straight to JSON bytes: they already have TaskRead's fields in its order, and a returned model
# would be validated twice (by the route and by FastAPI's response_model) before being dumped (specs/performance.md).
# response_model stays declared for the OpenAPI document.
if tuple(TaskRead.model_fields) != repository.TASK_FIELDS:
    raise RuntimeError("repository columns and TaskRead fields differ")


def _json(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(to_json(content), status_code=status_code, headers=headers, media_type="application/json")


def _found(row: TaskRow | None) -> TaskRow:
    if row is None:
        raise _not_found()
    return row


@router.get(
    "",
    operation_id="list_tasks",
    summary="List the user's tasks",
    response_model=list[TaskRead],
    responses={
        200: {
            "description": 'One page of tasks. A `Link: <...>; rel="next"` header announces the next page.',
            "headers": {"Link": {"description": "RFC 8288 link to the next page.", "schema": {"type": "string"}}},
        },
        **problem_responses(*_AUTH_ERRORS, 422),
    },
)
async def list_tasks(
    user: CurrentUser,
    db: PoolDep,
    request: Request,
    status: Annotated[StatusFilter, Query(description="Filter by completion.")] = StatusFilter.ALL,
    sort: Annotated[SortOrder, Query(description="Sort key; a leading `-` sorts descending.")] = (
        SortOrder.CREATED_DESC
    ),
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=1024, description="From the previous page's Link.")] = None,
) -> Response:
    after = decode_cursor(cursor, sort) if cursor else None
    rows = await repository.list_tasks(db, user.user_id, status=status, sort=sort, limit=limit, after=after)
    headers = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = Cursor(sort=sort, value=last[sort.column], id=last["id"]).encode()
        headers = {"Link": f'<{request.url.include_query_params(cursor=next_cursor)}>; rel="next"'}
    return _json(rows[:limit], headers=headers)


@router.post(
    "",
    operation_id="create_task",
    summary="Create a task",
    status_code=201,
    response_model=TaskRead,
    responses={
        201: {
            "headers": {"Location": {"description": "The new task's URL.", "schema": {"type": "string"}}},
            "links": task_links(),
        },
        **problem_responses(*_AUTH_ERRORS, 413, 415, 422),
    },
)
async def create_task(user: CurrentUser, body: NewTask, db: PoolDep, request: Request) -> Response:
    task = await repository.create_task(db, user.user_id, body)
    location = request.app.url_path_for("get_task", user_id=user.user_id, task_id=str(task["id"]))
    return _json(task, status_code=201, headers={"Location": location})


@router.get(
    "/{task_id}",
    name="get_task",
    operation_id="get_task",
    summary="Read one task",
    response_model=TaskRead,
    responses=problem_responses(*_AUTH_ERRORS, 404, 422),
)
async def get_task(user: CurrentUser, task_id: TaskId, db: PoolDep) -> Response:
    return _json(_found(await repository.get_task(db, user.user_id, task_id)))


@router.put(
    "/{task_id}",
    operation_id="replace_task",
    summary="Replace a task's editable fields",
    response_model=TaskRead,
    responses=problem_responses(*_AUTH_ERRORS, 404, 413, 415, 422),
)
async def replace_task(user: CurrentUser, body: NewTask, task_id: TaskId, db: PoolDep) -> Response:
    return _json(_found(await repository.replace_task(db, user.user_id, task_id, body)))


@router.delete(
    "/{task_id}",
    operation_id="delete_task",
    summary="Delete a task",
    status_code=204,
    response_class=Response,
    responses=problem_responses(*_AUTH_ERRORS, 404, 422),
)
async def delete_task(user: CurrentUser, task_id: TaskId, db: PoolDep) -> Response:
    if not await repository.delete_task(db, user.user_id, task_id):
        raise _not_found()
    return Response(status_code=204)


@router.patch(
    "/{task_id}/complete",
    operation_id="complete_task",
    summary='Toggle completion, or set it with {"completed": bool}',
    response_model=TaskRead,
    responses=problem_responses(*_AUTH_ERRORS, 404, 413, 415, 422),
)
async def complete_task(user: CurrentUser, body: Completion, task_id: TaskId, db: PoolDep) -> Response:
    completed = body.completed if body is not None else None
    return _json(_found(await repository.set_completion(db, user.user_id, task_id, completed)))
