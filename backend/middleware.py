"""Pure-ASGI middleware: request ids, caching headers, access log, metrics, and the request-body size limit.

One layer does all of it when CORS is off (the default): each layer of middleware costs every request a call, a
closure and a look through the headers (specs/performance.md). With CORS on, the size limit is a layer of its own
inside CORSMiddleware, so that a 413 still carries the CORS headers a browser needs to read it.
"""

from __future__ import annotations

import os
import re
import time

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import BODY_TOO_LARGE, ProblemError, problem_response, unexpected_error
from backend.logs import log_access
from backend.metrics import NOOP, Recorder, route_template
from backend.request_context import first_header, reset_request_id, set_request_id

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = REQUEST_ID_HEADER.encode()
_CONTENT_LENGTH = b"content-length"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _new_request_id() -> str:
    # 32 hex digits, as uuid4().hex gave, at a quarter of its cost: ids need to be unique, not UUIDs.
    return os.urandom(16).hex()


_NOSNIFF = (b"x-content-type-options", b"nosniff")
# No page may frame an answer (OWASP REST Security Cheat Sheet): CSP's frame-ancestors, and X-Frame-Options for
# browsers that predate it. frame-ancestors alone restricts nothing else, so the docs page keeps its scripts.
_NO_FRAMING = (b"content-security-policy", b"frame-ancestors 'none'")
_NO_FRAMING_LEGACY = (b"x-frame-options", b"DENY")
_PRIVATE = (b"cache-control", b"private, no-cache")
_NO_STORE = (b"cache-control", b"no-store")
_SET_HERE = frozenset({_REQUEST_ID, _NOSNIFF[0], _NO_FRAMING[0], _NO_FRAMING_LEGACY[0], _PRIVATE[0]})


def _stamp(message: Message, request_id: str, path: str) -> None:
    """Sets X-Request-ID, nosniff, no framing, and how the response may be cached (specs/caching.md): a user's own
    data may be kept by that user's client only, and revalidated with its ETag before each use; everything else
    (errors, refusals, health, docs) is never stored.

    One pass over the raw headers, with MutableHeaders' outcome (one value for each header set here, an existing
    Vary extended) at a third of its cost on every response (specs/performance.md)."""
    private = message["status"] < 400 and path.startswith("/api/")
    vary: list[bytes] = []
    headers = []
    for name, value in message.get("headers", ()):
        if name in _SET_HERE:
            continue
        if private and name == b"vary":
            vary.append(value)  # combined into one, then extended (as MutableHeaders.add_vary_header)
            continue
        headers.append((name, value))
    headers += [(_REQUEST_ID, request_id.encode("latin-1")), _NOSNIFF, _NO_FRAMING, _NO_FRAMING_LEGACY]
    if private:
        headers += [_PRIVATE, (b"vary", b", ".join([*vary, b"Authorization"]))]
    else:
        headers.append(_NO_STORE)
    message["headers"] = headers


class _BodyLimit:
    """The request-body size limit (413), whether the body is announced by Content-Length or streamed chunked."""

    def __init__(self, max_body_bytes: int) -> None:
        self.max_body_bytes = max_body_bytes
        self.detail = BODY_TOO_LARGE.format(limit=max_body_bytes)

    def declared_too_large(self, declared: str | None) -> bool:
        return declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes)

    def limited(self, receive: Receive) -> Receive:
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # Goes through the app's own error mapping, like any other problem.
                    raise ProblemError(413, self.detail, headers={"Connection": "close"})
            return message

        return limited_receive

    async def refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(Request(scope), 413, self.detail, {"Connection": "close"})
        await response(scope, receive, send)


class RequestContextMiddleware:
    """Gives every request an X-Request-ID (the caller's when well-formed), echoes it, sets the caching headers, logs
    one access line (unless TODO_ACCESS_LOG=false) and records it in the metrics (when they are on); with
    `max_body_bytes`, also applies the body-size limit."""

    def __init__(
        self, app: ASGIApp, metrics: Recorder = NOOP, access_log: bool = True, max_body_bytes: int | None = None
    ) -> None:
        self.app = app
        # Decided once: with neither on, a request costs no route lookup and no call.
        self._metrics = metrics if metrics.enabled else None
        self._access_log = access_log
        self._limit = _BodyLimit(max_body_bytes) if max_body_bytes is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered: str | None = None
        declared: str | None = None
        for key, value in scope["headers"]:  # one pass for both headers (first value of each, as Headers.get)
            if key == _REQUEST_ID and offered is None:
                offered = str(value, "latin-1")
            elif key == _CONTENT_LENGTH and declared is None:
                declared = str(value, "latin-1")
        request_id = offered if offered is not None and _VALID_REQUEST_ID.fullmatch(offered) else _new_request_id()
        token = set_request_id(request_id)
        started = time.perf_counter()
        status = 500
        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal started_response, status
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                _stamp(message, request_id, scope["path"])
            await send(message)

        try:
            limit = self._limit
            if limit is None:
                await self.app(scope, receive, send_with_id)
            elif limit.declared_too_large(declared):
                await limit.refuse(scope, receive, send_with_id)
            else:
                await self.app(scope, limit.limited(receive), send_with_id)
        except Exception as exc:
            # Answered here, inside the request's context, so the 500 carries X-Request-ID and its request_id finds
            # the log line (Starlette's outermost error middleware would answer outside it, with neither).
            if started_response:
                raise
            await unexpected_error(Request(scope), exc)(scope, receive, send_with_id)
        finally:
            if self._metrics is not None or self._access_log:
                elapsed = time.perf_counter() - started
                route = route_template(scope)
                if self._metrics is not None:
                    self._metrics.request(route, scope["method"], status, elapsed)
                if self._access_log:
                    log_access(scope["method"], scope["path"], status, elapsed * 1000, route)
            reset_request_id(token)


class BodySizeLimitMiddleware:
    """The body-size limit as a layer of its own, for the CORS configuration (see the module's docstring)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self._limit = _BodyLimit(max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._limit.declared_too_large(first_header(scope, _CONTENT_LENGTH)):
            await self._limit.refuse(scope, receive, send)
            return
        await self.app(scope, self._limit.limited(receive), send)
