"""A meta-test over the route table: every route under a user's path refuses anonymous callers and foreign tokens, so
a new route cannot ship unprotected. In-process the table is the app's own (including routes hidden from OpenAPI);
against a target it is every operation its OpenAPI document lists (or, without one, the seed's six routes)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Route

from harness import checks
from harness.discovery import Endpoint, RouteShapes
from harness.judgements import Watch, refused_anonymous
from harness.scenes import Victim
from harness.verdicts import PASS, fail

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
SEED_ROUTES = frozenset(
    {
        Endpoint("GET", "/api/{user_id}/tasks"),
        Endpoint("POST", "/api/{user_id}/tasks"),
        Endpoint("GET", "/api/{user_id}/tasks/{task_id}"),
        Endpoint("PUT", "/api/{user_id}/tasks/{task_id}"),
        Endpoint("DELETE", "/api/{user_id}/tasks/{task_id}"),
        Endpoint("PATCH", "/api/{user_id}/tasks/{task_id}/complete"),
    }
)
_PARAM = re.compile(r"{(\w+)(?::[^}]*)?}")


@dataclass(frozen=True)
class Table:
    """The routes to walk, and the names this table gives the user and task parameters."""

    endpoints: frozenset[Endpoint]
    user_param: str
    task_param: str

    def under_user(self) -> list[Endpoint]:
        marker = "{" + self.user_param + "}"
        return sorted((e for e in self.endpoints if marker in e.template), key=lambda e: (e.template, e.method))

    def url(self, endpoint: Endpoint, victim: Victim) -> str:
        values = {self.user_param: victim.user.id, self.task_param: victim.task_id}
        return _PARAM.sub(lambda m: values.get(m.group(1), "1"), endpoint.template)


def _call(client: httpx.Client, table: Table, endpoint: Endpoint, victim: Victim, headers: dict[str, str]):
    # A well-formed body, so that only the credentials can be the reason for a refusal.
    body: dict[str, Any] = {"json": {"title": "pwned"}} if endpoint.method in {"POST", "PUT"} else {}
    if endpoint.method == "PATCH":
        body = {"json": {"completed": True}}
    return client.request(endpoint.method, table.url(endpoint, victim), headers=headers, **body)


def _app_endpoints(app: FastAPI) -> frozenset[Endpoint]:
    """Every route with its full path: FastAPI >= 0.13x keeps included routers nested in app.routes."""
    try:
        from fastapi.routing import iter_route_contexts

        routes: Any = iter_route_contexts(app.routes)
    except ImportError:  # older FastAPI: app.routes is already flat
        routes = app.routes
    endpoints = set()
    for route in routes:
        original = getattr(route, "original_route", route)
        assert isinstance(original, Route), f"unexpected route kind {type(original).__name__}: extend this meta-test"
        endpoints |= {Endpoint(method, route.path) for method in route.methods or ()}
    return frozenset(endpoints)


@pytest.fixture
def table(request: pytest.FixtureRequest, target_url: str | None, routes: RouteShapes) -> Table:
    if not target_url:
        table = Table(_app_endpoints(request.getfixturevalue("app")), "user_id", "task_id")
        assert set(table.endpoints) >= SEED_ROUTES, "the walk must at least see the task routes"
        return table
    endpoints = routes.endpoints or frozenset(
        Endpoint(e.method, e.template.replace("{task_id}", "{" + routes.task_param + "}")) for e in SEED_ROUTES
    )
    return Table(endpoints, routes.user_param, routes.task_param)


@pytest.mark.req("ISO-ROUTE-TABLE", "ERR-NO-5XX", "ERR-NO-POISON", "ERR-STATUS-CLASSES", "ERR-401")
def test_every_route_under_a_user_path_refuses_anonymous_requests(client, judge, table: Table, victim: Victim):
    def probe(endpoint: Endpoint) -> None:
        watch = Watch.of(client, victim.user)
        response = _call(client, table, endpoint, victim, headers={})
        refused_anonymous(judge, "ISO-ROUTE-TABLE", response, watch)
        judge.expect("ERR-401", checks.unauthorized(response, checks.REALM_ONLY), response)

    for endpoint in table.under_user():
        probe(endpoint)


@pytest.mark.req("ISO-ROUTE-TABLE", "ERR-NO-LEAK", "ERR-NO-5XX", "ERR-NO-POISON", "ERR-STATUS-CLASSES", "ERR-403")
def test_every_route_under_a_user_path_refuses_a_foreign_token(
    client, judge, table: Table, victim: Victim, make_user, table_snapshot
):
    intruder = make_user("intruder")
    rows_before = table_snapshot()

    def probe(endpoint: Endpoint) -> None:
        watch = Watch.of(client, victim.user)
        response = _call(client, table, endpoint, victim, headers=intruder.headers)
        judge.expect("ERR-NO-LEAK", checks.no_token_echo(response, intruder.token), response)
        unchanged, readable = watch.after()
        judge.expect("ERR-NO-POISON", readable, response)
        judge.expect("ISO-ROUTE-TABLE", unchanged, response)
        judge.expect("ISO-ROUTE-TABLE", checks.not_in_body(response, "the victim's task", *victim.private), response)
        judge.expect("ISO-ROUTE-TABLE", checks.not_accepted(response, "a foreign token"), response)
        judge.expect("ERR-NO-5XX", checks.no_server_error(response), response)
        judge.expect("ERR-STATUS-CLASSES", checks.status_in(response, (403, 404)), response)
        judge.expect("ERR-403", checks.problem(response, 403, "forbidden"), response)

    for endpoint in table.under_user():
        probe(endpoint)
    same_rows = PASS if table_snapshot() == rows_before else fail("a database row changed")
    judge.expect("ISO-ROUTE-TABLE", same_rows, None)


@pytest.mark.req("ISO-PUBLIC-ROUTES", "OPS-HEALTHZ")
def test_public_routes_are_exactly_the_documented_ones(
    request: pytest.FixtureRequest, target_url: str | None, client: httpx.Client
):
    """The exemption list is not stale: each public path exists and answers an anonymous GET."""
    if target_url:
        assert client.get("/healthz").status_code == 200
        return
    app: FastAPI = request.getfixturevalue("app")
    assert {e.template for e in _app_endpoints(app)} & PUBLIC_PATHS == PUBLIC_PATHS
    for path in sorted(PUBLIC_PATHS):
        assert client.get(path).status_code == 200, path
