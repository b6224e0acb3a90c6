"""Hostile input from an authenticated user: mass assignment, oversized and deeply nested bodies, wrong content
types, out-of-range pagination and ids. Each gets its documented 4xx (never a 5xx), leaks nothing, and changes
nothing, neither for the sender nor for the victim whose id the body tries to claim."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from harness.checks import assert_no_leak, assert_problem
from harness.scenes import Owner, TableSnapshot, Victim
from harness.users import ApiUser, list_all

MAX_BODY = 64 * 1024
TIMESTAMP = "2000-01-01T00:00:00Z"


@dataclass(frozen=True)
class Hostile:
    """One hostile request; `body` gets the victim's user id so that it can try to claim the victim."""

    status: int
    method: str = "POST"
    on_task: bool = False
    suffix: str = ""
    body: Callable[[str], Any] | None = None
    raw: bytes | None = None
    content_type: str | None = "application/json"
    params: dict[str, Any] = field(default_factory=dict)
    path_id: str | None = None

    def send(self, client: httpx.Client, actor: ApiUser, task_id: int, victim_id: str) -> httpx.Response:
        target = self.path_id if self.path_id is not None else (task_id if self.on_task else None)
        url = actor.tasks_url(target, self.suffix) if target is not None else actor.tasks_url()
        headers = dict(actor.headers)
        if self.content_type is not None:
            headers["Content-Type"] = self.content_type
        content = self.raw if self.body is None else json.dumps(self.body(victim_id)).encode()
        return client.request(self.method, url, params=self.params, content=content, headers=headers)


def _with(**fields: Any) -> Callable[[str], dict[str, Any]]:
    """A valid title plus `fields`; the string "VICTIM" is replaced by the victim's user id."""
    return lambda victim: {"title": "legit", **{k: victim if v == "VICTIM" else v for k, v in fields.items()}}


def _cursor(**data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


MASS_ASSIGNMENT = {
    f"{verb}-{name}": Hostile(422, method=method, on_task=method != "POST", body=_with(**{name: value}))
    for verb, method in (("create", "POST"), ("replace", "PUT"))
    for name, value in {
        "user_id": "VICTIM",
        "userId": "VICTIM",
        "owner": "VICTIM",
        "owner_id": "VICTIM",
        "id": 1,
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
        "completed_at": TIMESTAMP,
        "completed": True,
    }.items()
} | {
    "complete-with-user_id": Hostile(
        422, "PATCH", on_task=True, suffix="/complete", body=lambda v: {"completed": True, "user_id": v}
    ),
    "complete-with-completed_at": Hostile(
        422, "PATCH", on_task=True, suffix="/complete", body=lambda _: {"completed": True, "completed_at": TIMESTAMP}
    ),
}

OVERSIZED = {
    "body-over-64-kib": Hostile(413, body=lambda _: {"title": "t", "description": "d" * MAX_BODY}),
    "title-201-characters": Hostile(422, body=lambda _: {"title": "t" * 201}),
    "title-60-kib": Hostile(422, body=lambda _: {"title": "t" * 60_000}),
    "description-2001-characters": Hostile(422, body=lambda _: {"title": "t", "description": "d" * 2001}),
    "replace-body-over-64-kib": Hostile(413, "PUT", on_task=True, raw=b'{"title": "' + b"t" * MAX_BODY + b'"}'),
}

MALFORMED = {
    "deeply-nested-arrays": Hostile(422, raw=_nested(30_000).encode()),
    "deeply-nested-title": Hostile(422, raw=b'{"title": ' + _nested(30_000).encode() + b"}"),
    "deeply-nested-objects": Hostile(422, raw=b'{"a":' * 10_000 + b"1" + b"}" * 10_000),
    "invalid-utf8": Hostile(422, raw=b'{"title": "\xff\xfe\xfa"}'),
    "lone-surrogate": Hostile(422, raw=b'{"title": "\\ud800"}'),
    "nul-character": Hostile(422, raw=b'{"title": "a\\u0000b"}'),
    "huge-number-title": Hostile(422, raw=b'{"title": 1e999}'),
    "truncated-json": Hostile(422, raw=b'{"title": "abc'),
    "json-null": Hostile(422, raw=b"null"),
    "json-array": Hostile(422, raw=b'[{"title": "a"}]'),
    "empty-body": Hostile(422, raw=b""),
    "completion-not-boolean": Hostile(422, "PATCH", on_task=True, suffix="/complete", raw=b'{"completed": "yes"}'),
}

WRONG_CONTENT_TYPES = {
    name: Hostile(415, raw=b'{"title": "smuggled"}', content_type=content_type)
    for name, content_type in {
        "text-plain": "text/plain",
        "form-urlencoded": "application/x-www-form-urlencoded",
        "multipart": "multipart/form-data; boundary=x",
        "xml": "application/xml",
        "json-lookalike": "application/jsonx",
        "text-json": "text/json",
        "missing": None,
    }.items()
} | {"put-text-plain": Hostile(415, "PUT", on_task=True, raw=b'{"title": "smuggled"}', content_type="text/plain")}

OUT_OF_RANGE = {
    **{
        f"limit-{name}": Hostile(422, "GET", params={"limit": value})
        for name, value in {"0": 0, "negative": -1, "201": 201, "huge": 10**30, "text": "abc", "decimal": "1.5"}.items()
    },
    "sort-unknown-column": Hostile(422, "GET", params={"sort": "user_id"}),
    "status-unknown": Hostile(422, "GET", params={"status": "deleted"}),
    "cursor-garbage": Hostile(422, "GET", params={"cursor": "!!!not-a-cursor"}),
    "cursor-too-long": Hostile(422, "GET", params={"cursor": "A" * 2000}),
    "cursor-id-zero": Hostile(422, "GET", params={"cursor": _cursor(s="-created_at", v=TIMESTAMP, i=0)}),
    "cursor-id-over-bigint": Hostile(422, "GET", params={"cursor": _cursor(s="-created_at", v=TIMESTAMP, i=2**64)}),
    "cursor-value-with-nul": Hostile(422, "GET", params={"sort": "title", "cursor": _cursor(s="title", v="\x00", i=1)}),
    "cursor-other-sort": Hostile(422, "GET", params={"cursor": _cursor(s="title", v="a", i=1)}),
    "cursor-sql": Hostile(422, "GET", params={"cursor": _cursor(s="-created_at", v="' OR 1=1 --", i=1)}),
}

BAD_TASK_IDS = {
    f"task-id-{name}": Hostile(status, "GET", path_id=value)
    for name, value, status in (
        ("zero", "0", 422),
        ("negative", "-1", 422),
        ("over-bigint", str(2**63), 422),
        ("huge", "9" * 40, 422),
        ("text", "abc", 422),
        ("exponent", "1e3", 422),
        ("sql", "1 OR 1=1", 422),
        ("largest-bigint", str(2**63 - 1), 404),
    )
}

CASES = MASS_ASSIGNMENT | OVERSIZED | MALFORMED | WRONG_CONTENT_TYPES | OUT_OF_RANGE | BAD_TASK_IDS


@pytest.mark.req("ISO-MASS-ASSIGNMENT", "API-READONLY-FIELDS", "ERR-413", "ERR-415", "ERR-422", "ERR-NO-LEAK")
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_hostile_request_gets_its_documented_4xx_and_changes_nothing(
    client: httpx.Client, actor: Owner, victim: Victim, table_snapshot: TableSnapshot, case: Hostile
):
    before, rows = list_all(client, actor.user), table_snapshot()
    response = case.send(client, actor.user, actor.task["id"], victim.user.id)
    assert_problem(response, case.status)
    assert_no_leak(response, actor.user.token)
    assert list_all(client, actor.user) == before
    victim.assert_untouched()
    assert table_snapshot() == rows


@pytest.mark.req("ISO-MASS-ASSIGNMENT")
def test_owner_in_the_query_string_cannot_redirect_a_write(client: httpx.Client, actor: Owner, victim: Victim):
    response = client.post(
        actor.user.tasks_url(), params={"user_id": victim.user.id}, json={"title": "mine"}, headers=actor.user.headers
    )
    assert response.status_code == 201
    assert response.headers["location"] == actor.user.tasks_url(response.json()["id"])
    assert response.json() in list_all(client, actor.user)
    victim.assert_untouched()


@pytest.mark.req("ERR-413", "ISO-MASS-ASSIGNMENT")
def test_streamed_body_over_the_limit_is_refused(client: httpx.Client, actor: Owner, table_snapshot: TableSnapshot):
    rows = table_snapshot()

    def chunks():
        yield b'{"title": "t", "description": "'
        for _ in range(20):
            yield b"d" * 4096
        yield b'"}'

    headers = {**actor.user.headers, "Content-Type": "application/json"}
    response = client.post(actor.user.tasks_url(), content=chunks(), headers=headers)
    assert_problem(response, 413)
    assert list_all(client, actor.user) == [actor.task]
    assert table_snapshot() == rows
