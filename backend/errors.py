"""The one mapping from exceptions to RFC 9457 problem-details responses.

Every error leaves the service through here, so no stack trace, SQL text, exception name or token can leak.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg import Error as DatabaseError
from psycopg import OperationalError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from backend.request_context import current_request_id

log = logging.getLogger("backend.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:todo-api:problem:"


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the failing field, e.g. `body.title`.")
    message: str
    code: str = Field(description="Machine-readable reason, e.g. `string_too_long`.")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(examples=[f"{TYPE_PREFIX}not-found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["No task with this id exists for this user."])
    instance: str = Field(examples=["/api/user-1/tasks/42"])
    request_id: str | None = Field(default=None, examples=["3f2a9c4e8b7d4c1e9a0b1c2d3e4f5a6b"])
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Raise anywhere to answer with a problem-details body."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        errors: Sequence[FieldError] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.headers = headers or {}
        self.errors = list(errors) if errors is not None else None


def problem_response(
    request: Request,
    status: int,
    slug: str,
    detail: str,
    headers: dict[str, str] | None = None,
    errors: Sequence[FieldError] | None = None,
) -> JSONResponse:
    body = Problem(
        type=f"{TYPE_PREFIX}{slug}",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        request_id=current_request_id(),
        errors=list(errors) if errors is not None else None,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        headers=headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


# Status -> (slug, safe default detail) for errors raised by the framework itself.
_FRAMEWORK_PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("bad-request", "The request could not be understood."),
    404: ("not-found", "No resource exists at this path."),
    405: ("method-not-allowed", "This method is not allowed on this resource; see the Allow header."),
    413: ("payload-too-large", "The request body is larger than the documented limit."),
    415: ("unsupported-media-type", "Send the body as application/json."),
}


def _field_errors(raw: Sequence[Any]) -> list[FieldError]:
    out = []
    for err in raw:
        loc = ".".join(str(part) for part in err.get("loc", ()))
        # Pydantic messages quote the rule, never the offending value, so they are safe to return.
        out.append(FieldError(field=loc, message=str(err.get("msg", "invalid")), code=str(err.get("type", "invalid"))))
    return out


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(request, exc.status, exc.slug, exc.detail, exc.headers, exc.errors)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(
        request,
        422,
        "validation-error",
        "The request has invalid fields.",
        errors=_field_errors(exc.errors()),
    )


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug, detail = _FRAMEWORK_PROBLEMS.get(exc.status_code, ("error", HTTPStatus(exc.status_code).phrase))
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return problem_response(request, exc.status_code, slug, detail, headers)


def _allowed_methods(request: Request) -> str:
    # Starlette's Allow names only the first route matching the path; RFC 9110 wants every method the path serves.
    base = {key: request.scope[key] for key in ("type", "path", "root_path", "headers") if key in request.scope}
    return ", ".join(
        method
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        if any(route.matches({**base, "method": method})[0] is Match.FULL for route in request.app.router.routes)
    )


def _database_unavailable(request: Request) -> JSONResponse:
    retry_after = str(request.app.state.settings.retry_after_seconds)
    return problem_response(
        request,
        503,
        "database-unavailable",
        "The database is unreachable; retry shortly.",
        {"Retry-After": retry_after},
    )


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    # Connection-level failures (refused, reset, pool exhausted: psycopg_pool's PoolTimeout is one, server shutting
    # down) are outages: 503. Anything else from the driver is a bug in our SQL and stays a 500.
    if isinstance(exc, OperationalError):
        log.warning("database unavailable: %s", type(exc).__name__)
        return _database_unavailable(request)
    return unexpected_error(request, exc)


def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug: logged with its traceback, answered with a bare 500 that names nothing of it."""
    log.error("unhandled error", exc_info=exc)
    return problem_response(request, 500, "internal-error", "An unexpected error occurred; it has been logged.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(DatabaseError, _on_database_error)
    # Other exceptions are answered by RequestContextMiddleware (backend/middleware.py), inside the request's context.
