"""The one mapping from exceptions to RFC 9457 problem-details responses.

Every error leaves the service through here, so no stack trace, SQL text, exception name or token can leak.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg import Error as DatabaseError
from psycopg import OperationalError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from backend.metrics import NOOP, Recorder
from backend.request_context import current_request_id

log = logging.getLogger("backend.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:todo-api:problem:"

# Details raised by name where one status has several meanings.
NOT_A_TASK = "No task with this id exists for this user."
NO_ROUTE = "No resource exists at this path."
BODY_TOO_LARGE = "The request body is larger than {limit} bytes."


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the failing field, e.g. `body.title`.")
    message: str
    code: str = Field(description="Machine-readable reason, e.g. `string_too_long`.")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(examples=[f"{TYPE_PREFIX}not-found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=[NOT_A_TASK])
    instance: str = Field(examples=["/api/user-1/tasks/42"])
    request_id: str | None = Field(default=None, examples=["3f2a9c4e8b7d4c1e9a0b1c2d3e4f5a6b"])
    errors: list[FieldError] | None = None


@dataclass(frozen=True)
class ProblemType:
    """One kind of error: its status, `type` slug, default detail, and what the OpenAPI document says of it."""

    status: int
    slug: str
    detail: str
    documented: str  # the OpenAPI response description
    headers: dict[str, str] = field(default_factory=dict)  # documented response headers: name -> description

    @property
    def title(self) -> str:
        return _RFC9110_PHRASES.get(self.status) or HTTPStatus(self.status).phrase


# RFC 9110's reason phrases where older ones linger: Python before 3.13 still says "Request Entity Too Large" and
# "Unprocessable Entity", so the titles would change with the interpreter.
_RFC9110_PHRASES = {413: "Content Too Large", 422: "Unprocessable Content"}


# The one registry: every error the service answers, the handlers, the middleware, /readyz and OpenAPI read it.
PROBLEMS: dict[int, ProblemType] = {
    problem.status: problem
    for problem in (
        ProblemType(400, "bad-request", "The request could not be understood.", "A malformed request."),
        ProblemType(
            401,
            "unauthorized",
            "Authentication required: send a bearer token.",
            "Missing, malformed, expired or otherwise invalid bearer token.",
            {"WWW-Authenticate": "RFC 6750 Bearer challenge."},
        ),
        ProblemType(
            403,
            "forbidden",
            "This token may not act for this user.",
            "The token is valid but its `sub` is not the `{user_id}` in the path.",
        ),
        ProblemType(404, "not-found", NOT_A_TASK, "No such task for this user (also when it belongs to someone else)."),
        ProblemType(
            405,
            "method-not-allowed",
            "This method is not allowed on this resource; see the Allow header.",
            "The path does not serve this method.",
            {"Allow": "The methods the path serves."},
        ),
        ProblemType(
            409,
            "idempotency-key-in-flight",
            "A request with this Idempotency-Key is still being processed; retry shortly to get its answer.",
            "Another request with this `Idempotency-Key` is still in flight; retry after `Retry-After` seconds.",
            {"Retry-After": "Seconds to wait before retrying."},
        ),
        ProblemType(
            412,
            "precondition-failed",
            "The task has changed since the If-Match tag; read it again and redo the change.",
            "`If-Match` names none of the task's current tags; nothing changed. `ETag` is the current tag.",
            {"ETag": "The task's current entity tag."},
        ),
        ProblemType(
            413,
            "payload-too-large",
            "The request body is larger than the documented limit.",
            "The body is over the documented limit (64 KiB by default).",
        ),
        ProblemType(
            415, "unsupported-media-type", "Send the body as application/json.", "The body is not `application/json`."
        ),
        ProblemType(
            422,
            "validation-error",
            "The request has invalid fields.",
            "Invalid path, query or body fields; `errors` lists each.",
        ),
        ProblemType(
            428,
            "precondition-required",
            "This deployment requires If-Match on changes: send the ETag you last read.",
            "`If-Match` is missing and this deployment requires it (`TODO_REQUIRE_IF_MATCH=true`).",
        ),
        ProblemType(
            500,
            "internal-error",
            "An unexpected error occurred; it has been logged.",
            "A bug. The body never carries internals; the request id finds the log line.",
        ),
        ProblemType(
            503,
            "database-unavailable",
            "The database is unreachable; retry shortly.",
            "The database is unreachable; retry after `Retry-After` seconds.",
            {"Retry-After": "Seconds to wait before retrying."},
        ),
    )
}


# Problem types that share a status with a registered one: the `type` tells them apart.
IDEMPOTENCY_KEY_REUSED = ProblemType(
    422,
    "idempotency-key-reused",
    "This Idempotency-Key was already used with a different request body.",
    "The `Idempotency-Key` was already used with a different body; nothing was created.",
)
IDEMPOTENCY_KEY_REUSED_FIELD = FieldError(
    field="header.Idempotency-Key",
    message="already used with a different request body",
    code="idempotency_key_reused",
)
VARIANTS: tuple[ProblemType, ...] = (IDEMPOTENCY_KEY_REUSED,)


class ProblemError(Exception):
    """Raise anywhere to answer with a problem-details body of a registered status (default detail unless given)."""

    def __init__(
        self,
        status: int | ProblemType,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        errors: Sequence[FieldError] | None = None,
    ) -> None:
        self.problem = status if isinstance(status, ProblemType) else PROBLEMS[status]
        self.status = self.problem.status
        self.detail = detail or self.problem.detail
        super().__init__(self.detail)
        self.headers = headers or {}
        self.errors = list(errors) if errors is not None else None


def problem_response(
    request: Request,
    status: int | ProblemType,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    errors: Sequence[FieldError] | None = None,
) -> JSONResponse:
    problem = status if isinstance(status, ProblemType) else PROBLEMS[status]
    body = Problem(
        type=f"{TYPE_PREFIX}{problem.slug}",
        title=problem.title,
        status=problem.status,
        detail=detail or problem.detail,
        instance=request.url.path,
        request_id=current_request_id(),
        errors=list(errors) if errors is not None else None,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=problem.status,
        headers=headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def database_unavailable(retry_after_seconds: int) -> ProblemError:
    """The outage answer, from the error handler and from /readyz alike."""
    return ProblemError(503, headers={"Retry-After": str(retry_after_seconds)})


def _field_errors(raw: Sequence[Any]) -> list[FieldError]:
    out = []
    for err in raw:
        loc = ".".join(str(part) for part in err.get("loc", ()))
        # Pydantic messages quote the rule, never the offending value, so they are safe to return.
        out.append(FieldError(field=loc, message=str(err.get("msg", "invalid")), code=str(err.get("type", "invalid"))))
    return out


def _respond(request: Request, exc: ProblemError) -> JSONResponse:
    return problem_response(request, exc.problem, exc.detail, exc.headers, exc.errors)


# Starlette picks a handler by the exception's class, so each handler's cast names what it is registered for.
async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    return _respond(request, cast(ProblemError, exc))


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(request, 422, errors=_field_errors(cast(RequestValidationError, exc).errors()))


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    http_exc = cast(StarletteHTTPException, exc)
    status = http_exc.status_code if http_exc.status_code in PROBLEMS else 400
    headers = dict(http_exc.headers or {})
    if status == 405:
        headers["Allow"] = _allowed_methods(request)
    return problem_response(request, status, NO_ROUTE if status == 404 else None, headers)


def _allowed_methods(request: Request) -> str:
    # Starlette's Allow names only the first route matching the path; RFC 9110 wants every method the path serves.
    base = {key: request.scope[key] for key in ("type", "path", "root_path", "headers") if key in request.scope}
    return ", ".join(
        method
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        if any(route.matches({**base, "method": method})[0] is Match.FULL for route in request.app.router.routes)
    )


def _on_database_error(
    retry_after_seconds: int, metrics: Recorder
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        # Connection-level failures (refused, reset, pool exhausted: psycopg_pool's PoolTimeout is one, server
        # shutting down) are outages: 503. Anything else from the driver is a bug in our SQL and stays a 500.
        if isinstance(exc, OperationalError):
            log.warning("database unavailable: %s", type(exc).__name__)
            metrics.database_unavailable()
            return _respond(request, database_unavailable(retry_after_seconds))
        return unexpected_error(request, exc)

    return handle


def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug: logged with its traceback, answered with a bare 500 that names nothing of it."""
    log.error("unhandled error", exc_info=exc)
    return problem_response(request, 500)


def install_error_handlers(app: FastAPI, retry_after_seconds: int, metrics: Recorder = NOOP) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(DatabaseError, _on_database_error(retry_after_seconds, metrics))
    # Other exceptions are answered by RequestContextMiddleware (backend/middleware.py), inside the request's context.
