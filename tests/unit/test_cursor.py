"""The keyset cursor: opaque, round-trips exactly, bound to its sort order, and any tampering is a 422."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from backend.errors import ProblemError
from backend.tasks.pagination import MAX_ID, Cursor, SortOrder, decode_cursor

WHEN = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def _raw(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.req("API-PAGINATION")
@pytest.mark.parametrize("sort", list(SortOrder))
def test_a_cursor_round_trips(sort):
    value = 'Ünïcødé / title, with "quotes" 🎉' if sort.column == "title" else WHEN
    cursor = Cursor(sort=sort, value=value, id=MAX_ID)
    encoded = cursor.encode()
    assert set(encoded) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_cursor(encoded, sort) == cursor


@pytest.mark.req("API-PAGINATION")
def test_a_timestamp_keeps_its_offset_and_microseconds():
    when = WHEN.astimezone(timezone(timedelta(hours=5, minutes=30)))
    decoded = decode_cursor(Cursor(SortOrder.UPDATED_DESC, when, 7).encode(), SortOrder.UPDATED_DESC)
    assert decoded.value == WHEN
    assert decoded.value.microsecond == 123456


def _assert_refused(raw: str, sort: SortOrder = SortOrder.CREATED_DESC) -> ProblemError:
    with pytest.raises(ProblemError) as caught:
        decode_cursor(raw, sort)
    problem = caught.value
    assert problem.status == 422
    assert problem.errors is not None
    assert [e.field for e in problem.errors] == ["query.cursor"]
    return problem


@pytest.mark.req("API-PAGINATION", "ERR-422")
@pytest.mark.parametrize(
    "raw",
    [
        "***",
        "a",
        _raw("just a string"),
        _raw([1, 2, 3]),
        _raw({"s": "-created_at", "v": WHEN.isoformat()}),
        _raw({"s": "-created_at", "i": 1}),
        _raw({"s": "-priority", "v": WHEN.isoformat(), "i": 1}),
        _raw({"s": "-created_at", "v": "not a time", "i": 1}),
        _raw({"s": "-created_at", "v": "2026-03-01T12:30:15", "i": 1}),
        _raw({"s": "-created_at", "v": 12345, "i": 1}),
        _raw({"s": "-created_at", "v": WHEN.isoformat(), "i": 0}),
        _raw({"s": "-created_at", "v": WHEN.isoformat(), "i": -5}),
        _raw({"s": "-created_at", "v": WHEN.isoformat(), "i": MAX_ID + 1}),
        _raw({"s": "-created_at", "v": WHEN.isoformat(), "i": "1"}),
        _raw({"s": "-created_at", "v": WHEN.isoformat(), "i": True}),
        _raw({"s": "-created_at", "v": WHEN.isoformat(), "i": 1.0}),
        base64.urlsafe_b64encode(b"[" * 50_000).decode(),
    ],
    ids=[
        "not base64",
        "truncated",
        "a string",
        "a list",
        "no id",
        "no value",
        "unknown sort",
        "bad time",
        "naive time",
        "number as time",
        "id 0",
        "negative id",
        "id over bigint",
        "id as string",
        "id as bool",
        "id as float",
        "deep nesting",
    ],
)
def test_a_tampered_cursor_is_refused_with_422(raw):
    _assert_refused(raw)


@pytest.mark.req("API-PAGINATION", "ERR-422")
def test_a_title_cursor_with_a_nul_is_refused():
    _assert_refused(_raw({"s": "title", "v": "a\x00b", "i": 1}), SortOrder.TITLE_ASC)


@pytest.mark.req("API-PAGINATION", "ERR-422")
def test_a_cursor_for_another_sort_order_is_refused_with_a_hint():
    problem = _assert_refused(Cursor(SortOrder.TITLE_ASC, "abc", 3).encode(), SortOrder.TITLE_DESC)
    assert problem.errors is not None
    assert "another sort order" in problem.errors[0].message
