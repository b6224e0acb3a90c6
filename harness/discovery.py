"""Route shapes of a target, read from its OpenAPI document when it serves one, else from flags.

The suite judges any implementation of this API, so nothing about its routes is assumed beyond the seed's layout
(a user's task collection, its items, and a completion route under an item): the path parameter names, the create
status, the id type and the routes beyond the six are whatever the target documents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.users import DEFAULT_PATHS, TaskPaths

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_COLLECTION = re.compile(r"(?P<prefix>.*)/\{(?P<user>[^{}/]+)\}/tasks")
_PARAM = re.compile(r"\{([^{}/]+)\}")


@dataclass(frozen=True)
class Endpoint:
    method: str
    template: str  # as the target writes it, e.g. /api/{user_id}/tasks/{id}


@dataclass(frozen=True)
class RouteShapes:
    paths: TaskPaths = DEFAULT_PATHS
    user_param: str = "user_id"
    task_param: str = "task_id"
    create_status: int | None = None  # the 2xx the target documents for create, when it says
    id_type: str = "integer"  # integer | string (uuid and other text ids)
    endpoints: frozenset[Endpoint] = field(default_factory=frozenset)  # every documented operation
    source: str = "this backend's layout"

    def under_user(self) -> list[Endpoint]:
        """The documented operations whose path carries the user id: each must need that user's token."""
        marker = "{" + self.user_param + "}"
        return sorted((e for e in self.endpoints if marker in e.template), key=lambda e: (e.template, e.method))

    def describe(self) -> str:
        created = f"create answers {self.create_status}" if self.create_status else "create status not documented"
        return (
            f"routes from {self.source}: {self.paths.collection.replace('{user_id}', '{' + self.user_param + '}')}"
            f"/{{{self.task_param}}} ({self.id_type} ids), {created}, {len(self.endpoints)} documented operations"
        )


def _lowest_success(operation: dict[str, Any]) -> int | None:
    codes = [int(code) for code in operation.get("responses", {}) if str(code).isdigit() and str(code).startswith("2")]
    return min(codes) if codes else None


def _id_type(operation: dict[str, Any], name: str) -> str:
    for parameter in operation.get("parameters", []):
        if isinstance(parameter, dict) and parameter.get("name") == name and parameter.get("in") == "path":
            schema = parameter.get("schema") or {}
            types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", []) if isinstance(s, dict)}
            return "integer" if "integer" in types else "string"
    return "integer"


def from_openapi(document: dict[str, Any], source: str) -> RouteShapes | None:
    """The task routes as `document` lays them out, or None when it does not show the seed's collection."""
    paths: dict[str, dict[str, Any]] = document.get("paths") or {}
    endpoints = frozenset(
        Endpoint(method.upper(), template)
        for template, ops in paths.items()
        for method in ops
        if method in HTTP_METHODS
    )
    for template, ops in paths.items():
        match = _COLLECTION.fullmatch(template)
        if not match or "get" not in ops or "post" not in ops:
            continue
        items = [t for t in paths if t.startswith(template + "/{") and _PARAM.fullmatch(t[len(template) + 1 :])]
        if not items:
            continue
        item = items[0]
        task_param = item[len(template) + 2 : -1]
        completes = [t for t in paths if t.startswith(item + "/") and "patch" in paths[t] and "{" not in t[len(item) :]]
        item_ops = paths[item]
        operation: dict[str, Any] = next((item_ops[m] for m in ("get", "put", "delete") if m in item_ops), {})
        return RouteShapes(
            paths=TaskPaths(
                collection=f"{match.group('prefix')}/{{user_id}}/tasks",
                complete_suffix=completes[0][len(item) :] if completes else DEFAULT_PATHS.complete_suffix,
            ),
            user_param=match.group("user"),
            task_param=task_param,
            create_status=_lowest_success(ops["post"]),
            id_type=_id_type(operation, task_param),
            endpoints=endpoints,
            source=source,
        )
    return None


def from_flags(tasks_path: str, task_param: str, create_status: int | None, id_type: str) -> RouteShapes:
    match = _COLLECTION.fullmatch(tasks_path)
    if not match:
        raise ValueError(f"--tasks-path {tasks_path!r} must look like /api/{{user_id}}/tasks")
    return RouteShapes(
        paths=TaskPaths(collection=f"{match.group('prefix')}/{{user_id}}/tasks"),
        user_param=match.group("user"),
        task_param=task_param,
        create_status=create_status,
        id_type=id_type,
        source="flags (the target serves no usable OpenAPI document)",
    )


def fetch_openapi(client: httpx.Client, location: str) -> dict[str, Any] | None:
    """The target's OpenAPI document from a URL or path on the target; None when it serves none."""
    try:
        response = client.get(location)
        document = response.json() if response.is_success else None
    except (httpx.HTTPError, ValueError):
        return None
    return document if isinstance(document, dict) and isinstance(document.get("paths"), dict) else None
