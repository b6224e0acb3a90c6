"""Request and response bodies. Unknown and read-only fields are rejected (mass assignment is a 422)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
)

from backend.db.models import DESCRIPTION_MAX, TITLE_MAX


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold U+0000; refuse it here rather than fail in the driver.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Whitespace as JSON Schema's regular expressions (ECMA-262 \\s) know it, spelled out: titles are trimmed of exactly
# these, and the schema's pattern names exactly these, so a schema-driven client and this validation accept the same
# titles (Python's str.strip() would also trim \\x1c-\\x1f and \\x85; Python's \\s differs from ECMA's too).
WHITESPACE = "".join(
    chr(c) for c in (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F)
) + "".join(chr(c) for c in (0x205F, 0x3000, 0xFEFF))
_WS = "".join(f"\\u{ord(c):04x}" for c in WHITESPACE)  # the class body, as \\uXXXX escapes both engines read
# 1 to TITLE_MAX characters once trimmed (a first and a last non-space with anything but NUL between), no NUL.
TITLE_PATTERN = f"^[{_WS}]*[^{_WS}\\u0000](?:[^\\u0000]{{0,{TITLE_MAX - 2}}}[^{_WS}\\u0000])?[{_WS}]*$"
NO_NUL_PATTERN = "^[^\\u0000]*$"


def _trim(value: object) -> object:
    return value.strip(WHITESPACE) if isinstance(value, str) else value


Title = Annotated[
    str,
    BeforeValidator(_trim),
    StringConstraints(min_length=1, max_length=TITLE_MAX),
    AfterValidator(_no_nul),
    # The rule as JSON Schema states it: on the untrimmed text, so the pattern, not a length, bounds it.
    WithJsonSchema(
        {
            "type": "string",
            "pattern": TITLE_PATTERN,
            "description": f"1 to {TITLE_MAX} characters after trimming whitespace; no NUL.",
            "examples": ["Buy milk"],
        }
    ),
]
Description = Annotated[
    str | None,
    StringConstraints(max_length=DESCRIPTION_MAX),
    AfterValidator(lambda v: None if v is None else _no_nul(v)),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "maxLength": DESCRIPTION_MAX, "pattern": NO_NUL_PATTERN}, {"type": "null"}],
            "description": f"At most {DESCRIPTION_MAX} characters; no NUL.",
            "examples": ["2 litres, semi-skimmed"],
        }
    ),
]

_STRICT = ConfigDict(extra="forbid", strict=False)


class TaskWrite(BaseModel):
    """The editable fields. POST creates with them; PUT replaces them (an omitted description becomes null)."""

    model_config = _STRICT

    title: Title
    description: Description = None


class CompletionUpdate(BaseModel):
    """Sets completion explicitly, so a retried request is safe. Send no body at all to toggle instead."""

    model_config = _STRICT

    completed: StrictBool


class TaskRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 42,
                    "title": "Buy milk",
                    "description": "2 litres, semi-skimmed",
                    "completed": True,
                    "created_at": "2026-01-05T09:30:00Z",
                    "updated_at": "2026-01-05T18:02:11Z",
                    "completed_at": "2026-01-05T18:02:11Z",
                }
            ]
        }
    )

    id: int = Field(examples=[42])
    title: str = Field(examples=["Buy milk"])
    description: str | None = Field(examples=["2 litres, semi-skimmed"])
    completed: bool = Field(examples=[False])
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = Field(description="When the task was last completed; null while pending.")
