"""`BoundRoute`: an APIRoute that binds its endpoint's arguments itself on the common path and hands every other
request to FastAPI's own handler.

FastAPI's `solve_dependencies` inspects every parameter of every dependency again on every request (aliases, sequence
annotations, cache keys, scopes): 44% of GET one's in-process time (specs/performance.md). A bound route works out
once, at start-up, where each argument comes from; per request it only fetches them.

It binds a request only where FastAPI would find nothing to refuse in the parameters themselves: every path parameter
validates, the query string is empty (or no query parameter is declared), no declared header is present, and the
request's app has no dependency override installed. In that case FastAPI calls each dependency in declared order (any
may raise) and then the endpoint, with the path values validated and the other parameters at their defaults: so does the
bound path, with the same validators. Every other request (a 422 to write, a query or a header to validate, a test's
override) goes to FastAPI's handler untouched, so refusals keep FastAPI's exact shape and order.

A route is bound only if its endpoint is declared to return a `Response` (nothing to serialise) and every parameter is
a kind `_signature` knows: the Request, path parameters, optional query and header parameters with constant
defaults, and `async def` dependencies made of the same. Any other route takes FastAPI's handler for every request.

`app.dependency_overrides` works on every BoundRoute, bound or not: the routes are built once and shared by every app
made in the process (backend/openapi_docs.py adds them as they are), so the overrides are looked up on the request's
own app, and FastAPI's handler is built once for each app that has some.
"""

from __future__ import annotations

import copy
import inspect
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import Any, get_type_hints

from fastapi import Request, Response, params
from fastapi._compat import ModelField
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_validation_alias
from fastapi.routing import (
    APIRoute,
    request_response,  # FastAPI's own: it opens the exit stacks its handler expects
)
from starlette.types import ASGIApp, Receive, Scope, Send

_CONSTANT = (type(None), bool, int, float, str, bytes, Enum)


@dataclass(frozen=True)
class _Signature:
    """How to call one function of a route (a dependency or the endpoint) on the bound path."""

    call: Callable[..., Coroutine[Any, Any, Any]]
    argument: str | None  # the parameter of the caller it fills (None: the endpoint, or a route-level dependency)
    request: str | None  # its parameter that takes the Request
    path: tuple[tuple[str, str, ModelField], ...]  # (parameter, path key, field)
    defaults: tuple[tuple[str, Any], ...]  # its query and header parameters, absent from the request
    cached: bool  # FastAPI's use_cache: one call per request for the same function
    dependencies: tuple[_Signature, ...]

    def plan(self, steps: list[_Step]) -> int:
        """Appends this function's step after its dependencies' (depth-first: the order FastAPI resolves them in);
        returns its index in `steps`."""
        inputs = []
        for dependency in self.dependencies:
            at = dependency.plan(steps)
            if dependency.argument is not None:
                inputs.append((dependency.argument, at))
        steps.append(_Step(self, tuple(inputs)))
        return len(steps) - 1


@dataclass(frozen=True)
class _Step:
    """One call of the bound path: a function, and its parameters filled by earlier steps' values (name, index)."""

    signature: _Signature
    inputs: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Binding:
    endpoint: _Signature
    reads_query: bool
    headers: frozenset[bytes]  # lower-case names of the declared header parameters

    @cached_property
    def steps(self) -> tuple[_Step, ...]:
        steps: list[_Step] = []
        self.endpoint.plan(steps)
        return tuple(steps)

    def bind(self, request: Request) -> list[dict[str, Any]] | None:
        """Each step's own arguments, in order, or None when FastAPI must look at this request."""
        scope = request.scope
        if self.reads_query and scope["query_string"]:
            return None
        if self.headers and any(name in self.headers for name, _ in scope["headers"]):
            return None
        raw = scope["path_params"]
        bound = []
        for step in self.steps:
            signature = step.signature
            arguments = dict(signature.defaults)
            for parameter, key, field in signature.path:
                value, errors = field.validate(raw.get(key), {}, loc=("path", key))
                if errors:
                    return None
                arguments[parameter] = value
            if signature.request is not None:
                arguments[signature.request] = request
            bound.append(arguments)
        return bound

    async def run(self, bound: list[dict[str, Any]]) -> Response:
        # A loop over the steps rather than a recursion: no coroutine per dependency, and one frame less to resume
        # whenever the endpoint waits on the database (specs/performance.md, step 11).
        values: list[Any] = []
        cache: dict[Callable[..., Any], Any] = {}  # FastAPI's use_cache: one call per request for the same function
        for step, arguments in zip(self.steps, bound, strict=True):
            for parameter, at in step.inputs:
                arguments[parameter] = values[at]
            call = step.signature.call
            if step.signature.cached and call in cache:
                values.append(cache[call])
                continue
            value = await call(**arguments)
            cache[call] = value
            values.append(value)
        response = values[-1]
        if not isinstance(response, Response):
            raise TypeError(f"{call!r} must return a Response")
        return response


def _is_async(call: Callable[..., Any] | None) -> bool:
    # A dependency may be a function or an instance with an async __call__ (JsonBody); a class is instantiated by
    # FastAPI, which the bound path does not do.
    return inspect.iscoroutinefunction(call if inspect.isroutine(call) else type(call).__call__)


def _constant_default(field: ModelField) -> tuple[str, Any] | None:
    info = field.field_info
    if info.is_required() or info.validate_default or not isinstance(info.default, _CONSTANT):
        return None
    return field.name, info.default


def _signature(dependant: Dependant, argument: str | None) -> _Signature | None:
    """The dependant and its dependencies, if every parameter is of a kind the bound path fetches; else None."""
    unsupported = (
        dependant.body_params,
        dependant.cookie_params,
        dependant.websocket_param_name,
        dependant.http_connection_param_name,
        dependant.response_param_name,
        dependant.background_tasks_param_name,
        dependant.security_scopes_param_name,
        dependant.own_oauth_scopes,
    )
    if any(unsupported) or dependant.call is None or not _is_async(dependant.call):
        return None
    path = []
    for field in dependant.path_params:  # FastAPI itself allows only scalar path parameters
        path.append((field.name, get_validation_alias(field), field))
    defaults = [_constant_default(field) for field in (*dependant.query_params, *dependant.header_params)]
    dependencies = [_signature(dependency, dependency.name) for dependency in dependant.dependencies]
    if None in defaults or None in dependencies:
        return None
    return _Signature(
        dependant.call,
        argument,
        dependant.request_param_name,
        tuple(path),
        tuple(default for default in defaults if default is not None),
        dependant.use_cache,
        tuple(dependency for dependency in dependencies if dependency is not None),
    )


def _header_names(dependant: Dependant) -> set[bytes]:
    names = set()
    for field in dependant.header_params:
        alias = get_validation_alias(field)
        converts = isinstance(field.field_info, params.Header) and field.field_info.convert_underscores
        names |= {alias.lower().encode(), (alias.replace("_", "-") if converts else alias).lower().encode()}
    for dependency in dependant.dependencies:
        names |= _header_names(dependency)
    return names


def _reads_query(dependant: Dependant) -> bool:
    return bool(dependant.query_params) or any(_reads_query(dependency) for dependency in dependant.dependencies)


def _returns_response(call: Callable[..., Any] | None) -> bool:
    try:
        returned = get_type_hints(call).get("return")
    except (NameError, TypeError):
        return False
    return isinstance(returned, type) and issubclass(returned, Response)


def compile_binding(dependant: Dependant) -> Binding | None:
    """The bound path for a route's dependant, or None if FastAPI must handle all its requests."""
    endpoint = _signature(dependant, None)
    if endpoint is None or not _returns_response(dependant.call):
        return None
    return Binding(endpoint, _reads_query(dependant), frozenset(_header_names(dependant)))


class BoundRoute(APIRoute):
    """An APIRoute whose requests take the bound path when `compile_binding` found one for its endpoint.

    The bound path also skips what FastAPI's request wrapper sets up for what it cannot have: the exit stacks of
    dependencies with `yield` and of uploaded files, and Starlette's per-route exception wrapper: an exception
    propagates to the app's ExceptionMiddleware, which answers it with the same handlers, so a ProblemError answers
    as it does on any route.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        # None: every request goes to FastAPI's handler (tests/unit/test_bound_route.py checks the task routes).
        self.binding = compile_binding(self.dependant) if self.body_field is None else None
        self.app = _routed_app(self, self.binding, self.app)


def _routed_app(route: APIRoute, binding: Binding | None, fastapi_app: ASGIApp) -> ASGIApp:
    overriding: weakref.WeakKeyDictionary[Any, ASGIApp] = weakref.WeakKeyDictionary()

    def handler_with_overrides_of(owner: Any) -> ASGIApp:
        handler = overriding.get(owner)
        if handler is None:
            # FastAPI's own handler, built as include_router would build it for `owner`: its provider of overrides.
            for_owner = copy.copy(route)
            for_owner.dependency_overrides_provider = owner
            handler = overriding[owner] = request_response(for_owner.get_route_handler())
        return handler

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        owner = scope.get("app")
        if getattr(owner, "dependency_overrides", None):
            await handler_with_overrides_of(owner)(scope, receive, send)
            return
        if binding is None or (bound := binding.bind(Request(scope, receive, send))) is None:
            await fastapi_app(scope, receive, send)
            return

        # Unlike FastAPI's handler, no exception wrapper of its own: the app's ExceptionMiddleware, a few frames out,
        # looks up the same handlers with the same scope. One layer less to call twice per response, and to resume
        # each time the request waits on the database (specs/performance.md, step 11).
        response = await binding.run(bound)
        await response(scope, receive, send)

    return app
