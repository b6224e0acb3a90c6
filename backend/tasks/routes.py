"""Routes for /api/{user_id}/tasks. Checks run in order: CurrentUser (401/403), the body (415/422), the headers
(422 for a malformed Idempotency-Key, 428 for a missing If-Match where required), then the task itself (404, and 412
for a stale If-Match, decided inside the one statement that makes the change)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import to_json

from backend.auth.dependencies import CurrentUser
from backend.deps import PoolDep, SettingsDep
from backend.errors import IDEMPOTENCY_KEY_REUSED, IDEMPOTENCY_KEY_REUSED_FIELD, NOT_A_TASK, ProblemError
from backend.json_body import JsonBody
from backend.openapi_docs import problem_responses, task_links
from backend.request_context import first_header
from backend.routing import BoundRoute
from backend.settings import Settings
from backend.tasks import repository
from backend.tasks.pagination import MAX_ID, Cursor, SortOrder, StatusFilter, decode_cursor
from backend.tasks.preconditions import (
    IDEMPOTENCY_KEY_PATTERN,
    etag,
    none_match,
    page_tag,
    parse_condition,
    request_hash,
    weak_etag,
)
from backend.tasks.repository import TaskRow
from backend.tasks.schemas import CompletionUpdate, TaskRead, TaskWrite

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

router = APIRouter(prefix="/api/{user_id}/tasks", tags=["tasks"], route_class=BoundRoute)


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


@dataclass(frozen=True)
class ConditionHeader:
    """An optional precondition header (If-Match, If-None-Match), read from the request by the route itself.

    Any value is valid (a tag that is not one of ours simply never matches), so FastAPI would have nothing to refuse:
    as a `Header()` parameter it cost GET one 10 µs per request, absent or not (specs/performance.md). The route
    documents it with `openapi_extra=ConditionHeader.documented()`, the very parameter FastAPI would have written.
    """

    name: str
    description: str

    @cached_property
    def key(self) -> bytes:
        return self.name.lower().encode()

    def value(self, request: Request) -> str | None:
        """The first value, as a Header() parameter takes it."""
        return first_header(request.scope, self.key)

    def documented(self) -> dict[str, Any]:
        schema = {"title": self.name, "type": "string"}  # absent or a string: never null
        parameter = {"description": self.description, "in": "header", "name": self.name, "required": False}
        return {"parameters": [{**parameter, "schema": schema}]}


IF_MATCH = ConditionHeader(
    "If-Match", "Change only if the task's ETag is one of these (or `*`); otherwise 412 and nothing changes."
)
IF_NONE_MATCH = ConditionHeader("If-None-Match", "304 with no body when the task's ETag is one of these.")
IF_NONE_MATCH_PAGE = ConditionHeader(
    "If-None-Match", "304 with no body when the page's ETag is one of these: nothing on it, nor its next link, changed."
)
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description=(
            "Makes a retried create safe: the same key and body within the retention window (24 h by default) get "
            "the original 201 and create nothing; the same key with another body gets a 422."
        ),
        examples=["5f1c9a1e-7d1b-4c53-9a43-6f1d1f0e2b77"],
    ),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 255, "pattern": IDEMPOTENCY_KEY_PATTERN}),
]
_ETAG = {"ETag": {"description": "The task's strong entity tag (its version).", "schema": {"type": "string"}}}
_PAGE_ETAG = {
    "ETag": {
        "description": "The page's weak entity tag: it changes when a task on the page, or its next link, changes.",
        "schema": {"type": "string"},
    }
}

_AUTH_ERRORS = (401, 403, 503, 500)


def _not_found() -> ProblemError:
    # Identical whether the id is unused or another user's: ids cannot be probed.
    return ProblemError(404, NOT_A_TASK)


# Rows are serialised straight to JSON bytes: they already have TaskRead's fields in its order, and a returned model
# would be validated twice (by the route and by FastAPI's response_model) before being dumped (specs/performance.md).
# response_model stays declared for the OpenAPI document.
if tuple(TaskRead.model_fields) != repository.TASK_FIELDS:
    raise RuntimeError("repository columns and TaskRead fields differ")


_JSON_TYPE = (b"content-type", b"application/json")


class _JsonResponse(Response):
    """Content serialised straight to JSON bytes, with its raw headers given as such: Starlette's own constructor
    lower-cases and encodes a header mapping, then searches it for Content-Length and Content-Type, on every answer
    (specs/performance.md, step 11)."""

    media_type = "application/json"

    def __init__(self, body: bytes, status_code: int = 200, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [*headers, (b"content-length", b"%d" % len(self.body)), _JSON_TYPE]


def _header(name: bytes, value: str) -> tuple[bytes, bytes]:
    return name, value.encode("latin-1")  # as Starlette encodes a header value


def _task(row: TaskRow, status_code: int = 200, *headers: tuple[bytes, bytes]) -> Response:
    """One task's representation: its ETag from the version the statement returned (not part of the body)."""
    tag = _header(b"etag", etag(row.pop("version")))  # popped before the row is serialised
    return _JsonResponse(to_json(row), status_code, (tag, *headers))


def _expected(if_match: str | None, settings: Settings) -> list[int] | None:
    """The versions If-Match allows (None: no precondition); without one, 428 when the deployment requires it."""
    condition = parse_condition(if_match)
    if condition is None:
        if settings.require_if_match:
            raise ProblemError(428)
        return None
    return None if condition.any else condition.versions


def _changed(outcome: repository.Changed) -> TaskRow:
    if outcome.row is not None:
        return outcome.row
    if outcome.current_version is not None:
        raise ProblemError(412, headers={"ETag": etag(outcome.current_version)})
    raise _not_found()


@router.get(
    "",
    operation_id="list_tasks",
    summary="List the user's tasks",
    description=(
        "The caller's tasks one page at a time, filtered by `status` and ordered by `sort` (ties broken by id). "
        'A `Link: <...>; rel="next"` header carries the next page\'s opaque cursor; the last page has none. '
        "A weak `ETag` validates the page: sent back in `If-None-Match`, it gets a 304 while nothing on it changed."
    ),
    response_model=list[TaskRead],
    openapi_extra=IF_NONE_MATCH_PAGE.documented(),
    responses={
        200: {
            "description": 'One page of tasks. A `Link: <...>; rel="next"` header announces the next page.',
            "headers": {
                "Link": {"description": "RFC 8288 link to the next page.", "schema": {"type": "string"}},
                **_PAGE_ETAG,
            },
        },
        304: {"description": "Not Modified: `If-None-Match` names the page's current ETag.", "headers": _PAGE_ETAG},
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
    link = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = Cursor(sort=sort, value=last[sort.column], id=last["id"]).encode()
        link = f'<{request.url.include_query_params(cursor=next_cursor)}>; rel="next"'
    body = to_json(rows[:limit])
    tag = page_tag(body, link)
    page_etag = weak_etag(tag)
    if none_match(IF_NONE_MATCH_PAGE.value(request), tag):
        # The client's copy already has the link: a 304 carries the validator alone (RFC 9110 §15.4.5).
        return Response(status_code=304, headers={"ETag": page_etag})
    headers = (_header(b"etag", page_etag),) + ((_header(b"link", link),) if link else ())
    return _JsonResponse(body, 200, headers)


@router.post(
    "",
    operation_id="create_task",
    summary="Create a task",
    description=(
        "A new task owned by `user_id`, answered with its `Location` and `ETag`. With an `Idempotency-Key`, a retry "
        "with the same body replays the first answer; the same key with another body is a 422."
    ),
    status_code=201,
    response_model=TaskRead,
    responses={
        201: {
            "description": "The created task (also the replayed answer to a retried Idempotency-Key).",
            "headers": {"Location": {"description": "The new task's URL.", "schema": {"type": "string"}}, **_ETAG},
            "links": task_links(),
        },
        **problem_responses(*_AUTH_ERRORS, 409, 413, 415, 422, IDEMPOTENCY_KEY_REUSED),
    },
)
async def create_task(
    user: CurrentUser,
    body: NewTask,
    db: PoolDep,
    request: Request,
    settings: SettingsDep,
    key: IdempotencyKey = None,
) -> Response:
    if key is None:
        task = await repository.create_task(db, user.user_id, body)
    else:
        retention = timedelta(hours=settings.idempotency_hours)
        fingerprint = request_hash(body)
        created = await repository.create_task_once(db, user.user_id, body, key, fingerprint, retention)
        if created is None:
            raise ProblemError(409, headers={"Retry-After": "1"})
        if created.replayed and created.request_hash != fingerprint:
            raise ProblemError(IDEMPOTENCY_KEY_REUSED, errors=[IDEMPOTENCY_KEY_REUSED_FIELD])
        task = created.row
    location = request.app.url_path_for("get_task", user_id=user.user_id, task_id=str(task["id"]))
    return _task(task, 201, _header(b"location", location))


@router.get(
    "/{task_id}",
    name="get_task",
    operation_id="get_task",
    summary="Read one task",
    description="One of the caller's tasks. Another user's task id answers 404, exactly like a missing one.",
    response_model=TaskRead,
    openapi_extra=IF_NONE_MATCH.documented(),
    responses={
        200: {"headers": _ETAG},
        304: {"description": "Not Modified: `If-None-Match` names the current ETag.", "headers": _ETAG},
        **problem_responses(*_AUTH_ERRORS, 404, 422),
    },
)
async def get_task(user: CurrentUser, task_id: TaskId, db: PoolDep, request: Request) -> Response:
    row = await repository.get_task(db, user.user_id, task_id)
    if row is None:
        raise _not_found()
    if none_match(IF_NONE_MATCH.value(request), str(row["version"])):
        return Response(status_code=304, headers={"ETag": etag(row["version"])})
    return _task(row)


@router.put(
    "/{task_id}",
    operation_id="replace_task",
    summary="Replace a task's editable fields",
    description=(
        "Sets `title` and `description` (an omitted description becomes null). With `If-Match`, only while the task "
        "is still that version (else 412); a deployment may require `If-Match` (else 428)."
    ),
    response_model=TaskRead,
    openapi_extra=IF_MATCH.documented(),
    responses={200: {"headers": _ETAG}, **problem_responses(*_AUTH_ERRORS, 404, 412, 413, 415, 422, 428)},
)
async def replace_task(
    user: CurrentUser, body: NewTask, task_id: TaskId, db: PoolDep, settings: SettingsDep, request: Request
) -> Response:
    expected = _expected(IF_MATCH.value(request), settings)
    return _task(_changed(await repository.replace_task(db, user.user_id, task_id, body, expected)))


@router.delete(
    "/{task_id}",
    operation_id="delete_task",
    summary="Delete a task",
    description=(
        "Deletes the task for good. With `If-Match`, only while the task is still that version (else 412); a "
        "deployment may require `If-Match` (else 428)."
    ),
    status_code=204,
    response_class=Response,
    responses=problem_responses(*_AUTH_ERRORS, 404, 412, 422, 428),
    openapi_extra=IF_MATCH.documented(),
)
async def delete_task(
    user: CurrentUser, task_id: TaskId, db: PoolDep, settings: SettingsDep, request: Request
) -> Response:
    expected = _expected(IF_MATCH.value(request), settings)
    _changed(await repository.delete_task(db, user.user_id, task_id, expected))
    return Response(status_code=204)


@router.patch(
    "/{task_id}/complete",
    operation_id="complete_task",
    summary='Toggle completion, or set it with {"completed": bool}',
    description=(
        'Without a body, flips `completed`; with `{"completed": true|false}`, sets it, which is safe to retry. '
        "`completed_at` follows. `If-Match` works as on PUT."
    ),
    response_model=TaskRead,
    openapi_extra=IF_MATCH.documented(),
    responses={200: {"headers": _ETAG}, **problem_responses(*_AUTH_ERRORS, 404, 412, 413, 415, 422, 428)},
)
async def complete_task(
    user: CurrentUser, body: Completion, task_id: TaskId, db: PoolDep, settings: SettingsDep, request: Request
) -> Response:
    completed = body.completed if body is not None else None
    expected = _expected(IF_MATCH.value(request), settings)
    return _task(_changed(await repository.set_completion(db, user.user_id, task_id, completed, expected)))
