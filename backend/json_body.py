"""JSON request bodies, parsed after authentication, and documented by themselves.

FastAPI parses declared body parameters before any dependency runs, which would answer an anonymous caller
with 415/422 instead of 401. Bodies are therefore read by a dependency that the routes list after
`CurrentUser`, so the order is always 401 -> 403 -> 415 -> 422. Since FastAPI cannot see such a body, each
`JsonBody` carries what the OpenAPI document needs (its model, whether it is required, an example), and
`backend/openapi_docs.py` documents every route that depends on one.
"""

from __future__ import annotations

from email.message import Message
from typing import Any, Generic, TypeVar

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


def _validate(model: type[ModelT], raw: bytes) -> ModelT:
    try:
        # Pydantic's own JSON parser: bounded recursion, so deeply nested input is a 422, not a crash.
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = [{**err, "loc": ("body", *err["loc"])} for err in exc.errors(include_url=False, include_input=False)]
        raise RequestValidationError(errors) from None


class JsonBody(Generic[ModelT]):
    """A dependency returning the request body validated as `model`; without `required`, an empty body is None."""

    def __init__(self, model: type[ModelT], *, example: dict[str, Any], required: bool = True) -> None:
        self.model = model
        self.example = example
        self.required = required

    async def __call__(self, request: Request) -> ModelT | None:
        raw = await request.body()
        if not self.required and not raw.strip():
            return None
        if not is_json_media_type(request.headers.get("content-type")):
            raise ProblemError(415)
        return _validate(self.model, raw)
