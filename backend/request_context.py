"""Per-request context (the request id) shared by the middleware, the error mapping and the logs (backend/logs.py), and
the one reader of a raw request header used on the hot path."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Mapping
from typing import Any

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def first_header(scope: Mapping[str, Any], name: bytes) -> str | None:
    """The first value of header `name` (lower case), as Starlette's Headers.get gives it (latin-1), without building
    a Headers object."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value, "latin-1")
    return None


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str) -> contextvars.Token[str | None]:
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token[str | None]) -> None:
    _request_id.reset(token)


class RequestIdLogFilter(logging.Filter):
    """Stamps every log record with the id of the request being served (or '-')."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        return True
