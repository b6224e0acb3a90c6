"""Keyset pagination: an opaque cursor holding the sort key and the last row's (key, id)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from backend.errors import FieldError, ProblemError


class SortOrder(StrEnum):
    CREATED_ASC = "created_at"
    CREATED_DESC = "-created_at"
    UPDATED_ASC = "updated_at"
    UPDATED_DESC = "-updated_at"
    TITLE_ASC = "title"
    TITLE_DESC = "-title"

    @property
    def column(self) -> str:
        return self.value.lstrip("-")

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")


class StatusFilter(StrEnum):
    ALL = "all"
    PENDING = "pending"
    COMPLETED = "completed"


SortValue = datetime | str
MAX_ID = 2**63 - 1  # bigint


@dataclass(frozen=True)
class Cursor:
    sort: SortOrder
    value: SortValue
    id: int

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        raw = json.dumps({"s": self.sort.value, "v": value, "i": self.id}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _invalid(detail: str) -> ProblemError:
    return ProblemError(422, errors=[FieldError(field="query.cursor", message=detail, code="invalid_cursor")])


def decode_cursor(raw: str, sort: SortOrder) -> Cursor:
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        sort_in_cursor = SortOrder(data["s"])
        task_id = data["i"]
        value = data["v"]
        if not isinstance(task_id, int) or isinstance(task_id, bool) or not 0 < task_id <= MAX_ID:
            raise TypeError
        if not isinstance(value, str) or "\x00" in value:
            raise TypeError
        parsed: SortValue = value if sort_in_cursor.column == "title" else datetime.fromisoformat(value)
    except (ValueError, TypeError, KeyError, binascii.Error, RecursionError):
        raise _invalid("Not a cursor issued by this API.") from None
    if sort_in_cursor is not sort:
        raise _invalid("This cursor belongs to another sort order; start again without it.")
    if isinstance(parsed, datetime) and parsed.tzinfo is None:
        raise _invalid("Not a cursor issued by this API.")
    return Cursor(sort=sort, value=parsed, id=task_id)
