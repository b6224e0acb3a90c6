"""JSON request bodies, parsed after authentication.

FastAPI parses declared body parameters before any dependency runs, which would answer an anonymous caller
with 415/422 instead of 401. Bodies are therefore read by a dependency that the routes list after
`CurrentUser`, so the order is always 401 -> 403 -> 415 -> 422.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from email.message import Message
from typing import TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from backend.errors import ProblemError

ModelT = TypeVar("ModelT", bound=BaseModel)


def is_json_media_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def _unsupported_media_type() -> ProblemError:
    return ProblemError(415, "unsupported-media-type", "Send the body as application/json.")


def _validate(model: type[ModelT], raw: bytes) -> ModelT:
    try:
        # Pydantic's own JSON parser: bounded recursion, so deeply nested input is a 422, not a crash.
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = [{**err, "loc": ("body", *err["loc"])} for err in exc.errors(include_url=False, include_input=False)]
        raise RequestValidationError(errors) from None


def json_body(model: type[ModelT]) -> Callable[[Request], Awaitable[ModelT]]:
    """A dependency returning the request body validated as `model` (required)."""

    async def parse(request: Request) -> ModelT:
        raw = await request.body()
        if not is_json_media_type(request.headers.get("content-type")):
            raise _unsupported_media_type()
        return _validate(model, raw)

    return parse


def optional_json_body(model: type[ModelT]) -> Callable[[Request], Awaitable[ModelT | None]]:
    """Like `json_body`, but an empty body means None."""

    async def parse(request: Request) -> ModelT | None:
        raw = await request.body()
        if not raw.strip():
            return None
        if not is_json_media_type(request.headers.get("content-type")):
            raise _unsupported_media_type()
        return _validate(model, raw)

    return parse
