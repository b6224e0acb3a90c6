"""Pure-ASGI middleware: request ids, access log, and the request-body size limit."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import BODY_TOO_LARGE, ProblemError, problem_response, unexpected_error
from backend.request_context import reset_request_id, set_request_id

access_log = logging.getLogger("backend.access")

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestContextMiddleware:
    """Gives every request an X-Request-ID (the caller's when well-formed), echoes it, and logs one line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
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
            access_log.info(
                "%s %s %d %.1fms",
                scope["method"],
                scope["path"],
                status_holder[0],
                (time.perf_counter() - started) * 1000,
            )
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
