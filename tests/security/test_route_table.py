"""A meta-test over the route table: every route but the documented public ones refuses anonymous callers and
foreign tokens, so a new route cannot ship unprotected. In-process the table is the app's own (including routes
hidden from OpenAPI); against a target it is the served OpenAPI document."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Route

from harness.checks import REALM_ONLY, assert_no_leak
from harness.scenes import TableSnapshot, Victim
from harness.users import UserFactory

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
TASK_ENDPOINTS = frozenset(
    {
        ("GET", "/api/{user_id}/tasks"),
        ("POST", "/api/{user_id}/tasks"),
        ("GET", "/api/{user_id}/tasks/{task_id}"),
        ("PUT", "/api/{user_id}/tasks/{task_id}"),
        ("DELETE", "/api/{user_id}/tasks/{task_id}"),
        ("PATCH", "/api/{user_id}/tasks/{task_id}/complete"),
    }
)
_PARAM = re.compile(r"{(\w+)(?::[^}]*)?}")
_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str

    def url(self, victim: Victim) -> str:
        values = {"user_id": victim.user.id, "task_id": str(victim.task["id"])}
        return _PARAM.sub(lambda m: values.get(m.group(1), "1"), self.path)

    def call(self, victim: Victim, headers: dict[str, str]) -> httpx.Response:
        # A well-formed body, so that only the credentials can be the reason for a refusal.
        body: dict[str, Any] = {"json": {"title": "pwned"}} if self.method in {"POST", "PUT", "PATCH"} else {}
        if self.method == "PATCH":
            body = {"json": {"completed": True}}
        return victim.client.request(self.method, self.url(victim), headers=headers, **body)


def _flattened(app: FastAPI) -> Iterable[Any]:
    """Every route with its full path: FastAPI >= 0.13x keeps included routers nested in app.routes."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        return app.routes
    return iter_route_contexts(app.routes)


def _app_endpoints(app: FastAPI) -> set[Endpoint]:
    endpoints = set()
    for route in _flattened(app):
        original = getattr(route, "original_route", route)
        assert isinstance(original, Route), f"unexpected route kind {type(original).__name__}: extend this meta-test"
        endpoints |= {Endpoint(method, route.path) for method in route.methods or ()}
    return endpoints


def _openapi_endpoints(client: httpx.Client) -> set[Endpoint]:
    response = client.get("/openapi.json")
    if response.status_code == 404:
        pytest.skip("the target serves no /openapi.json, so its route table cannot be walked")
    paths: dict[str, dict[str, Any]] = response.json()["paths"]
    return {Endpoint(m.upper(), path) for path, ops in paths.items() for m in ops if m in _HTTP_METHODS}


@pytest.fixture
def endpoints(request: pytest.FixtureRequest, target_url: str | None, client: httpx.Client) -> set[Endpoint]:
    table = _openapi_endpoints(client) if target_url else _app_endpoints(request.getfixturevalue("app"))
    assert {(e.method, e.path) for e in table} >= TASK_ENDPOINTS, "the walk must at least see the task routes"
    return table


def _protected(endpoints: set[Endpoint]) -> list[Endpoint]:
    return sorted((e for e in endpoints if e.path not in PUBLIC_PATHS), key=lambda e: (e.path, e.method))


@pytest.mark.req("ISO-ROUTE-TABLE", "ERR-401")
def test_every_non_public_route_refuses_anonymous_requests(endpoints: set[Endpoint], victim: Victim):
    wrong = {}
    for endpoint in _protected(endpoints):
        response = endpoint.call(victim, headers={})
        if response.status_code != 401 or not REALM_ONLY.fullmatch(response.headers.get("www-authenticate", "")):
            wrong[f"{endpoint.method} {endpoint.path}"] = response.status_code
    assert wrong == {}, f"routes reachable without credentials: {wrong}"
    victim.assert_untouched()


@pytest.mark.req("ISO-ROUTE-TABLE", "ERR-403", "ERR-NO-LEAK")
def test_every_non_public_route_refuses_a_foreign_token(
    endpoints: set[Endpoint], victim: Victim, make_user: UserFactory, table_snapshot: TableSnapshot
):
    intruder = make_user("intruder")
    rows_before = table_snapshot()
    wrong = {}
    for endpoint in _protected(endpoints):
        response = endpoint.call(victim, headers=intruder.headers)
        if response.status_code not in (403, 404):
            wrong[f"{endpoint.method} {endpoint.path}"] = response.status_code
        assert_no_leak(response, intruder.token, victim.task["description"])
    assert wrong == {}, f"routes that served a foreign token: {wrong}"
    victim.assert_untouched()
    assert table_snapshot() == rows_before


@pytest.mark.req("ISO-ROUTE-TABLE", "OPS-HEALTHZ")
def test_public_routes_are_exactly_the_documented_ones(
    request: pytest.FixtureRequest, target_url: str | None, client: httpx.Client
):
    """The exemption list is not stale: each public path exists and answers an anonymous GET."""
    if target_url:
        assert client.get("/healthz").status_code == 200
        return
    app: FastAPI = request.getfixturevalue("app")
    assert {e.path for e in _app_endpoints(app)} & PUBLIC_PATHS == PUBLIC_PATHS
    for path in sorted(PUBLIC_PATHS):
        assert client.get(path).status_code == 200, path
