"""OpenAPI: error responses from the problem registry, and what FastAPI cannot see for itself.

Routes declare only what is theirs (summary, success status, which errors they answer). `document_router` then
reads each route's dependency tree: a route that authenticates (`AUTHENTICATING`) gets the bearer scheme, a route that
depends on a `JsonBody` gets its request body. Adding a route touches the route alone (specs/adding-a-route.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel

from backend.auth.dependencies import AUTHENTICATING, BEARER_SCHEME, BEARER_SCHEME_NAME
from backend.errors import (
    IDEMPOTENCY_KEY_REUSED,
    IDEMPOTENCY_KEY_REUSED_FIELD,
    PROBLEM_MEDIA_TYPE,
    PROBLEMS,
    TYPE_PREFIX,
    Problem,
    ProblemType,
)
from backend.json_body import JsonBody

_INTEGER_HEADERS = {"Retry-After"}


def _example(problem: ProblemType) -> dict[str, Any]:
    example: dict[str, Any] = {
        "type": f"{TYPE_PREFIX}{problem.slug}",
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": "/api/user-1/tasks/42",
        "request_id": "3f2a9c4e8b7d4c1e9a0b1c2d3e4f5a6b",
    }
    if problem == PROBLEMS[422]:
        example["errors"] = [
            {"field": "body.title", "message": "String should have at least 1 character", "code": "string_too_short"}
        ]
    elif problem == IDEMPOTENCY_KEY_REUSED:
        example["errors"] = [IDEMPOTENCY_KEY_REUSED_FIELD.model_dump()]
    return example


def problem_responses(*answers: int | ProblemType) -> dict[int | str, dict[str, Any]]:
    """The documented error responses of a route, from the registry in backend/errors.py: a status stands for its
    registered problem type; a ProblemType variant adds itself (an example of its own) to its status."""
    by_status: dict[int, list[ProblemType]] = {}
    for answer in answers:
        problem = answer if isinstance(answer, ProblemType) else PROBLEMS[answer]
        by_status.setdefault(problem.status, []).append(problem)
    return {status: _response(problems) for status, problems in by_status.items()}


def _response(problems: list[ProblemType]) -> dict[str, Any]:
    if len(problems) == 1:
        content: dict[str, Any] = {"example": _example(problems[0])}
    else:
        content = {"examples": {problem.slug: {"value": _example(problem)} for problem in problems}}
    headers = {name: text for problem in problems for name, text in problem.headers.items()}
    return {
        "model": Problem,
        "description": " Or: ".join(problem.documented for problem in problems),
        "content": {PROBLEM_MEDIA_TYPE: content},
        "headers": {
            name: {"description": text, "schema": {"type": "integer" if name in _INTEGER_HEADERS else "string"}}
            for name, text in headers.items()
        },
    }


def task_links() -> dict[str, Any]:
    """OpenAPI links from a created task to every route that reaches it, so stateful clients follow real flows."""
    parameters = {"user_id": "$request.path.user_id", "task_id": "$response.body#/id"}
    return {
        name: {"operationId": operation, "parameters": parameters, "description": f"{name} the created task."}
        for name, operation in (
            ("Read", "get_task"),
            ("Replace", "replace_task"),
            ("Delete", "delete_task"),
            ("Complete", "complete_task"),
        )
    }


def _dependencies(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _dependencies(dependency)


def _request_body(body: JsonBody[Any]) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{body.model.__name__}"}
    return {"required": body.required, "content": {"application/json": {"schema": schema, "example": body.example}}}


def document_router(router: APIRouter) -> dict[str, type[BaseModel]]:
    """Puts on every operation of `router` what its dependencies imply (the bearer scheme, the JSON body); returns
    the body models, whose schemas the document must carry."""
    models: dict[str, type[BaseModel]] = {}
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        calls = list(_dependencies(route.dependant))
        extra = dict(route.openapi_extra or {})
        # A public route says so (an empty list): linters read a missing `security` as a forgotten one.
        extra["security"] = [{BEARER_SCHEME_NAME: []}] if AUTHENTICATING.intersection(calls) else []
        bodies = [call for call in calls if isinstance(call, JsonBody)]
        if bodies:
            extra["requestBody"] = _request_body(bodies[0])
            models[bodies[0].model.__name__] = bodies[0].model
        route.openapi_extra = extra
    return models


def install_routers(app: FastAPI, routers: list[APIRouter], match_first: list[APIRouter] | None = None) -> None:
    """Include `routers`, each documented by `document_router`, and generate the OpenAPI document once, its paths in
    the order of `routers`. Requests try the routes of `match_first` before the others."""
    models: dict[str, type[BaseModel]] = {}
    for router in routers:
        models |= document_router(router)
    documented = [route for router in routers for route in router.routes]
    first = match_first or []
    matched = [route for router in [*first, *(r for r in routers if r not in first)] for route in router.routes]
    # Added to the app's own router as they are (nothing to apply at inclusion: no prefix, tags or dependencies), so
    # a request is matched against them directly: `include_router` wraps them in a router that FastAPI resolves again
    # on every request, 10 µs of GET one. And ahead of the documentation's routes, which FastAPI added first: a
    # request tries each route in turn until one matches (specs/performance.md).
    app.router.routes[:0] = matched

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        routes = [*documented, *(route for route in app.routes if route not in documented)]
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=routes,
            tags=app.openapi_tags,
            servers=app.servers,
            contact=app.contact,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, model in models.items():
            components[name] = model.model_json_schema(ref_template="#/components/schemas/{model}")
        _document_problems_as_problem_json(schema)
        schema["components"].setdefault("securitySchemes", {})[BEARER_SCHEME_NAME] = BEARER_SCHEME
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_problems_as_problem_json(schema: dict[str, Any]) -> None:
    """FastAPI files a response `model` under application/json; errors are sent as application/problem+json."""
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                if PROBLEM_MEDIA_TYPE in content and "application/json" in content:
                    content[PROBLEM_MEDIA_TYPE]["schema"] = content.pop("application/json")["schema"]
