"""BoundRoute (backend/routing.py): the bound path answers every request exactly as FastAPI's own handler would,
and routes it cannot serve are left to FastAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Cookie, Depends, FastAPI, Header, HTTPException, Path, Query, Request, Response
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from backend.app import create_app
from backend.routing import BoundRoute, compile_binding
from harness.inprocess import make_settings


async def owner(request: Request, user_id: Annotated[str, Path()]) -> str:
    if request.headers.get("x-user") != user_id:
        raise HTTPException(403, "not yours")
    request.state.calls = getattr(request.state, "calls", 0) + 1
    return user_id


async def counted(request: Request, who: Annotated[str, Depends(owner)]) -> int:
    calls: int = request.state.calls
    return calls


def _router(route_class: type[APIRoute], app: FastAPI) -> APIRouter:
    router = APIRouter(prefix="/api/{user_id}/things", route_class=route_class, dependency_overrides_provider=app)

    @router.get("/{thing_id}")
    async def read(
        request: Request,
        who: Annotated[str, Depends(owner)],
        calls: Annotated[int, Depends(counted)],
        thing_id: Annotated[int, Path(ge=1, le=1000)],
        limit: Annotated[int, Query(ge=1, le=5)] = 3,
        tag: Annotated[str | None, Header(alias="X-Tag", max_length=3)] = None,
    ) -> Response:
        arguments = {"who": who, "calls": calls, "thing_id": thing_id, "limit": limit, "tag": tag}
        return Response(to_json(arguments), media_type="application/json", headers={"X-Path": request.url.path})

    return router


def _app(route_class: type[APIRoute]) -> FastAPI:
    app = FastAPI()
    app.router.routes.extend(_router(route_class, app).routes)  # as backend/openapi_docs.install_routers adds them
    return app


def _client(route_class: type[APIRoute]) -> TestClient:
    return TestClient(_app(route_class))


FASTAPI, BOUND = _client(APIRoute), _client(BoundRoute)
assert all(route.binding is not None for route in BOUND.app.routes if isinstance(route, BoundRoute))
PATH_VALUES = st.one_of(st.integers(-5, 1005).map(str), st.sampled_from(["01", "+1", "1.0", "x", "1_0", "%20"]))


@pytest.mark.req("OPS-BOUND-ROUTES")
@settings(max_examples=150, deadline=None)
@given(
    user=st.sampled_from(["ann", "bob"]),
    caller=st.sampled_from(["ann", "bob", None]),
    thing=PATH_VALUES,
    query=st.sampled_from(["", "limit=2", "limit=9", "other=1"]),
    tag=st.sampled_from([None, "ab", "abcd"]),
)
def test_a_bound_route_answers_every_request_as_fastapi_would(
    user: str, caller: str | None, thing: str, query: str, tag: str | None
) -> None:
    headers = {**({"X-User": caller} if caller else {}), **({"X-Tag": tag} if tag else {})}
    url = f"/api/{user}/things/{thing}" + (f"?{query}" if query else "")
    expected, answered = FASTAPI.get(url, headers=headers), BOUND.get(url, headers=headers)
    assert (answered.status_code, answered.json(), answered.headers.get("x-path")) == (
        expected.status_code,
        expected.json(),
        expected.headers.get("x-path"),
    )


@pytest.mark.req("OPS-BOUND-ROUTES")
def test_a_shared_dependency_runs_once_per_request_on_the_bound_path() -> None:
    answer = BOUND.get("/api/ann/things/7", headers={"X-User": "ann"})
    assert answer.status_code == 200
    assert answer.json() == {"who": "ann", "calls": 1, "thing_id": 7, "limit": 3, "tag": None}


@pytest.mark.req("OPS-BOUND-ROUTES")
def test_a_dependency_override_is_honoured() -> None:
    app = _app(BoundRoute)

    async def anyone(request: Request) -> str:
        request.state.calls = 5
        return "override"

    app.dependency_overrides[owner] = anyone
    answer = TestClient(app).get("/api/ann/things/7")
    assert answer.json()["who"] == "override"


def _plain_dependency() -> str:
    return "sync"


async def _yielding() -> AsyncIterator[str]:
    yield "generator"


def _route(endpoint: Any) -> BoundRoute:
    return BoundRoute("/things/{thing_id}", endpoint, methods=["GET"])


async def _returns_a_dict() -> dict[str, str]:
    return {}


async def _sync_dependency(value: Annotated[str, Depends(_plain_dependency)]) -> Response:
    return Response()


async def _yield_dependency(value: Annotated[str, Depends(_yielding)]) -> Response:
    return Response()


async def _cookie(session: Annotated[str | None, Cookie()] = None) -> Response:
    return Response()


async def _required_query(q: Annotated[str, Query()]) -> Response:
    return Response()


@pytest.mark.parametrize(
    "endpoint",
    [_returns_a_dict, _sync_dependency, _yield_dependency, _cookie, _required_query],
    ids=["returns a dict", "sync dependency", "yield dependency", "cookie", "required query"],
)
@pytest.mark.req("OPS-BOUND-ROUTES")
def test_a_route_the_bound_path_cannot_serve_is_left_to_fastapi(endpoint: Any) -> None:
    assert _route(endpoint).binding is None


@pytest.mark.req("OPS-BOUND-ROUTES")
def test_every_task_route_takes_the_bound_path() -> None:
    app = create_app(make_settings("postgresql://nobody@127.0.0.1:1/none", BETTER_AUTH_SECRET="s" * 40))
    task_routes = [route for route in app.routes if isinstance(route, APIRoute) and route.path.startswith("/api/")]
    assert len(task_routes) == 6
    unbound = [f"{route.methods} {route.path}" for route in task_routes if compile_binding(route.dependant) is None]
    assert unbound == []
    assert all(isinstance(route, BoundRoute) and route.binding is not None for route in task_routes)


@pytest.mark.req("OPS-BOUND-ROUTES")
def test_api_routes_are_matched_before_the_probes_and_the_documentation() -> None:
    app = create_app(make_settings("postgresql://nobody@127.0.0.1:1/none", BETTER_AUTH_SECRET="s" * 40))
    paths = [getattr(route, "path", "") for route in app.router.routes]
    last_api = max(n for n, path in enumerate(paths) if path.startswith("/api/"))
    assert paths.index("/healthz") > last_api
    assert paths.index("/openapi.json") > last_api
    # ... while the OpenAPI document keeps its own order: the probes first, as specs/openapi.json was made
    assert list(app.openapi()["paths"])[:2] == ["/healthz", "/readyz"]
