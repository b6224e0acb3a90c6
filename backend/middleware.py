"""Pure-ASGI middleware: request ids, access log, and the request-body size limit."""

from __future__ import annotations

import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import BODY_TOO_LARGE, ProblemError, problem_response, unexpected_error
from backend.logs import log_access
from backend.metrics import NOOP, Recorder, route_template
from backend.request_context import reset_request_id, set_request_id

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _cache_policy(headers: MutableHeaders, status: int, path: str) -> None:
    """How a response may be cached (specs/caching.md): a user's own data may be kept by that user's client only, and
    revalidated with its ETag before each use; everything else (errors, refusals, health, docs) is never stored."""
    headers["x-content-type-options"] = "nosniff"
    if status < 400 and path.startswith("/api/"):
        headers["cache-control"] = "private, no-cache"
        headers.add_vary_header("Authorization")
    else:
        headers["cache-control"] = "no-store"


class RequestContextMiddleware:
    """Gives every request an X-Request-ID (the caller's when well-formed), echoes it, sets the caching headers, logs
    one access line (unless TODO_ACCESS_LOG=false) and records it in the metrics (when they are on)."""

    def __init__(self, app: ASGIApp, metrics: Recorder = NOOP, access_log: bool = True) -> None:
        self.app = app
        # Decided once: with neither on, a request costs no route lookup and no call.
        self._metrics = metrics if metrics.enabled else None
        self._access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = offered if _VALID_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        token = set_request_id(request_id)
        started = time.perf_counter()
        status_holder = [500]

        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal started_response
            if message["type"] == "http.response.start":
                started_response = True
                status_holder[0] = message["status"]
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
                _cache_policy(headers, message["status"], scope["path"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
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
                    self._metrics.request(route, scope["method"], status_holder[0], elapsed)
                if self._access_log:
                    log_access(scope["method"], scope["path"], status_holder[0], elapsed * 1000, route)
            reset_request_id(token)


class BodySizeLimitMiddleware:
    """Answers 413 for a body over the limit, whether announced by Content-Length or streamed chunked."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await self._too_large(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # Goes through the app's own error mapping, like any other problem.
                    raise ProblemError(413, self._detail, headers={"Connection": "close"})
            return message

        await self.app(scope, limited_receive, send)

    @property
    def _detail(self) -> str:
        return BODY_TOO_LARGE.format(limit=self.max_body_bytes)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(Request(scope), 413, self._detail, {"Connection": "close"})
        await response(scope, receive, send)
