"""OpenAPI: documented error responses (with examples) and request bodies read by dependencies."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel

from backend.auth.dependencies import BEARER_SCHEME, BEARER_SCHEME_NAME, authenticate
from backend.errors import PROBLEM_MEDIA_TYPE, TYPE_PREFIX, Problem

_ERRORS: dict[int, tuple[str, str, str]] = {
    401: (
        "unauthorized",
        "Missing, malformed, expired or otherwise invalid bearer token.",
        "Invalid token: token expired.",
    ),
    403: (
        "forbidden",
        "The token is valid but its `sub` is not the `{user_id}` in the path.",
        "This token may not act for this user.",
    ),
    404: (
        "not-found",
        "No such task for this user (also when it belongs to someone else).",
        "No task with this id exists for this user.",
    ),
    413: (
        "payload-too-large",
        "The body is over the documented limit (64 KiB by default).",
        "The request body is larger than 65536 bytes.",
    ),
    415: (
        "unsupported-media-type",
        "The body is not `application/json`.",
        "Send the body as application/json.",
    ),
    422: (
        "validation-error",
        "Invalid path, query or body fields; `errors` lists each.",
        "The request has invalid fields.",
    ),
    503: (
        "database-unavailable",
        "The database is unreachable; retry after `Retry-After` seconds.",
        "The database is unreachable; retry shortly.",
    ),
    500: (
        "internal-error",
        "A bug. The body never carries internals; the request id finds the log line.",
        "An unexpected error occurred; it has been logged.",
    ),
}

_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "RFC 6750 Bearer challenge.", "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}},
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        slug, description, detail = _ERRORS[status]
        example: dict[str, Any] = {
            "type": f"{TYPE_PREFIX}{slug}",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
            "instance": "/api/user-1/tasks/42",
            "request_id": "3f2a9c4e8b7d4c1e9a0b1c2d3e4f5a6b",
        }
        if status == 422:
            example["errors"] = [
                {
                    "field": "body.title",
                    "message": "String should have at least 1 character",
                    "code": "string_too_short",
                }
            ]
        out[status] = {
            "model": Problem,
            "description": description,
            "content": {PROBLEM_MEDIA_TYPE: {"example": example}},
            "headers": _HEADERS.get(status, {}),
        }
    return out


def request_body(model: type[BaseModel], *, required: bool = True, example: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": required,
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{model.__name__}"},
                    "example": example,
                }
            },
        }
    }


def install_openapi(app: FastAPI, body_models: list[type[BaseModel]]) -> None:
    """Generate the schema once, adding the components that `request_body` refers to."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in body_models:
            components[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")
        _document_problems_as_problem_json(schema)
        schema["components"].setdefault("securitySchemes", {})[BEARER_SCHEME_NAME] = BEARER_SCHEME
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def document_bearer_auth(router: APIRouter) -> None:
    """Puts the bearer scheme on every operation of `router` whose dependencies include `authenticate`."""
    for route in router.routes:
        if isinstance(route, APIRoute) and _calls(route.dependant, authenticate):
            route.openapi_extra = {**(route.openapi_extra or {}), "security": [{BEARER_SCHEME_NAME: []}]}


def _calls(dependant: Dependant, function: Callable[..., Any]) -> bool:
    return any(dep.call is function or _calls(dep, function) for dep in dependant.dependencies)


def _document_problems_as_problem_json(schema: dict[str, Any]) -> None:
    """FastAPI files a response `model` under application/json; errors are sent as application/problem+json."""
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                if PROBLEM_MEDIA_TYPE in content and "application/json" in content:
                    content[PROBLEM_MEDIA_TYPE]["schema"] = content.pop("application/json")["schema"]
