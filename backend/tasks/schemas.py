"""Request and response bodies. Unknown and read-only fields are rejected (mass assignment is a 422)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from backend.db.models import DESCRIPTION_MAX, TITLE_MAX


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold U+0000; refuse it here rather than fail in the driver.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX),
    AfterValidator(_no_nul),
    Field(description=f"1 to {TITLE_MAX} characters after trimming.", examples=["Buy milk"]),
]
Description = Annotated[
    str | None,
    StringConstraints(max_length=DESCRIPTION_MAX),
    AfterValidator(lambda v: None if v is None else _no_nul(v)),
    Field(description=f"At most {DESCRIPTION_MAX} characters.", examples=["2 litres, semi-skimmed"]),
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
