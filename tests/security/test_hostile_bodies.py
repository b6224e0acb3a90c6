"""Hostile input from an authenticated user: mass assignment, oversized and deeply nested bodies, blank titles, wrong
content types, out-of-range pagination and ids.

Any implementation must: never answer 5xx; change nothing when it refuses; never let a body move a task to another
user, choose its id or rewrite its history; and keep every later read working (no poisoned row). Whether it refuses
or accepts a lenient case (an unknown field, a long title, a form body) is a contract choice; this backend's exact
4xx is judged in the reference layer."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from harness import checks
from harness.judgements import HOSTILE_REQS, Watch, hostile_input
from harness.scenes import Owner, Victim
from harness.users import ApiUser, list_all
from harness.verdicts import PASS, Verdict, fail

MAX_BODY = 64 * 1024
TIMESTAMP = "2000-01-01T00:00:00Z"
CHOSEN_ID = 987_654_321


@dataclass(frozen=True)
class Hostile:
    """One hostile request; `body` gets the victim's user id so that it can try to claim the victim."""

    status: int  # this backend's answer
    method: str = "POST"
    on_task: bool = False
    suffix: str = ""
    body: Callable[[str], Any] | None = None
    raw: bytes | None = None
    content_type: str | None = "application/json"
    params: dict[str, Any] = field(default_factory=dict)
    path_id: str | None = None
    must_refuse: bool = False  # a 2xx could only be wrong (malformed JSON, an unusable id)
    forces: dict[str, Any] = field(default_factory=dict)  # fields an accepted request must not have taken
    rule: str | None = None  # the reference requirement whose rule this backend applies, besides the status's own

    def send(self, client: httpx.Client, actor: ApiUser, task_id: str, victim_id: str) -> httpx.Response:
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


FORCED_VALUES = {
    "user_id": "VICTIM",
    "userId": "VICTIM",
    "owner": "VICTIM",
    "owner_id": "VICTIM",
    "id": CHOSEN_ID,
    "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
    "completed_at": TIMESTAMP,
    "completed": True,
}
# History a body must never rewrite (the owner fields are judged by watching the victim).
_HISTORY = {"id", "created_at", "updated_at", "completed_at"}
MASS_ASSIGNMENT = {
    f"{verb}-{name}": Hostile(
        422,
        method=method,
        on_task=method != "POST",
        body=_with(**{name: value}),
        forces={name: value} if name in _HISTORY else {},
        rule="API-READONLY-FIELDS",
    )
    for verb, method in (("create", "POST"), ("replace", "PUT"))
    for name, value in FORCED_VALUES.items()
} | {
    "complete-with-user_id": Hostile(
        422,
        "PATCH",
        on_task=True,
        suffix="/complete",
        body=lambda v: {"completed": True, "user_id": v},
        rule="API-READONLY-FIELDS",
    ),
    "complete-with-completed_at": Hostile(
        422,
        "PATCH",
        on_task=True,
        suffix="/complete",
        body=lambda _: {"completed": True, "completed_at": TIMESTAMP},
        forces={"completed_at": TIMESTAMP},
        rule="API-READONLY-FIELDS",
    ),
}

OVERSIZED = {
    "body-over-64-kib": Hostile(413, body=lambda _: {"title": "t", "description": "d" * MAX_BODY}),
    "title-201-characters": Hostile(422, body=lambda _: {"title": "t" * 201}, rule="API-TITLE-RULES"),
    "title-60-kib": Hostile(422, body=lambda _: {"title": "t" * 60_000}, rule="API-TITLE-RULES"),
    "description-2001-characters": Hostile(
        422, body=lambda _: {"title": "t", "description": "d" * 2001}, rule="API-DESCRIPTION-RULES"
    ),
    "replace-body-over-64-kib": Hostile(413, "PUT", on_task=True, raw=b'{"title": "' + b"t" * MAX_BODY + b'"}'),
}

BLANK_TITLES = {
    "blank-title": Hostile(422, body=lambda _: {"title": "   "}, rule="API-TITLE-RULES"),
    "empty-title": Hostile(422, body=lambda _: {"title": ""}, rule="API-TITLE-RULES"),
    "whitespace-title": Hostile(422, body=lambda _: {"title": "\t\n "}, rule="API-TITLE-RULES"),
    "replace-with-blank-title": Hostile(
        422, "PUT", on_task=True, body=lambda _: {"title": "   "}, rule="API-TITLE-RULES"
    ),
}

MALFORMED = {
    "deeply-nested-arrays": Hostile(422, raw=_nested(30_000).encode(), must_refuse=True),
    "deeply-nested-title": Hostile(422, raw=b'{"title": ' + _nested(30_000).encode() + b"}", must_refuse=True),
    "deeply-nested-objects": Hostile(422, raw=b'{"a":' * 10_000 + b"1" + b"}" * 10_000, must_refuse=True),
    "invalid-utf8": Hostile(422, raw=b'{"title": "\xff\xfe\xfa"}', must_refuse=True),
    "lone-surrogate": Hostile(422, raw=b'{"title": "\\ud800"}'),
    "nul-character": Hostile(422, raw=b'{"title": "a\\u0000b"}'),
    "nul-in-description": Hostile(422, raw=b'{"title": "a", "description": "b\\u0000"}'),
    "huge-number-title": Hostile(422, raw=b'{"title": 1e999}'),
    "truncated-json": Hostile(422, raw=b'{"title": "abc', must_refuse=True),
    "json-null": Hostile(422, raw=b"null", must_refuse=True),
    "json-array": Hostile(422, raw=b'[{"title": "a"}]', must_refuse=True),
    "empty-body": Hostile(422, raw=b"", must_refuse=True),
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
    f"task-id-{name}": Hostile(status, "GET", path_id=value, must_refuse=True)
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

CASES = MASS_ASSIGNMENT | OVERSIZED | BLANK_TITLES | MALFORMED | WRONG_CONTENT_TYPES | OUT_OF_RANGE | BAD_TASK_IDS
STATUS_RULES = {404: "ERR-404", 413: "ERR-413", 415: "ERR-415", 422: "ERR-422"}


def _params() -> list[Any]:
    return [
        pytest.param(
            case,
            marks=pytest.mark.req(
                "ISO-MASS-ASSIGNMENT",
                *HOSTILE_REQS,
                "ERR-PROBLEM-SHAPE",
                STATUS_RULES[case.status],
                *([case.rule] if case.rule else []),
            ),
            id=name,
        )
        for name, case in CASES.items()
    ]


def _history_kept(response: httpx.Response, actor: Owner, forces: dict[str, Any]) -> Verdict:
    """An accepted request did not take the forced id or timestamps: neither in its answer nor in the stored task."""
    if not forces or not response.is_success:
        return PASS
    try:
        shown: Any = response.json()
    except ValueError:
        shown = None
    if not isinstance(shown, dict):
        return PASS
    taken = [name for name, value in forces.items() if str(shown.get(name)) in {str(value), TIMESTAMP.rstrip("Z")}]
    return fail(f"{checks.describe(response)} and the task took {taken} from the body") if taken else PASS


@pytest.mark.parametrize("case", _params())
def test_hostile_request_breaks_nothing_and_gets_its_documented_4xx(
    client: httpx.Client, judge, actor: Owner, victim: Victim, table_snapshot, case: Hostile
):
    watch, victim_watch, rows = Watch.of(client, actor.user), Watch.of(client, victim.user), table_snapshot()
    response = case.send(client, actor.user, actor.task_id, victim.user.id)
    hostile_input(judge, response, watch, token=actor.user.token, must_refuse=case.must_refuse)
    victim_unchanged, _ = victim_watch.after()
    judge.expect("ISO-MASS-ASSIGNMENT", victim_unchanged, response)
    judge.expect("ISO-MASS-ASSIGNMENT", _history_kept(response, actor, case.forces), response)
    if 400 <= response.status_code < 500:
        judge.expect("ERR-REFUSAL-NO-EFFECT", PASS if table_snapshot() == rows else fail("a row changed"), response)
    judge.expect("ERR-PROBLEM-SHAPE", checks.problem(response, case.status), response)
    for rule in (STATUS_RULES[case.status], case.rule):
        if rule:
            judge.expect(rule, checks.status(response, case.status), response)


@pytest.mark.req("ISO-MASS-ASSIGNMENT", "API-CREATE")
def test_owner_in_the_query_string_cannot_redirect_a_write(client: httpx.Client, judge, actor: Owner, victim: Victim):
    victim_watch = Watch.of(client, victim.user)
    response = client.post(
        actor.user.tasks_url(), params={"user_id": victim.user.id}, json={"title": "mine"}, headers=actor.user.headers
    )
    unchanged, _ = victim_watch.after()
    judge.expect("ISO-MASS-ASSIGNMENT", unchanged, response)
    if response.is_success:
        mine = {str(task.get("id")) for task in list_all(client, actor.user)}
        landed = PASS if str(response.json().get("id")) in mine else fail("the task did not land with its creator")
        judge.expect("ISO-MASS-ASSIGNMENT", landed, response)
    judge.expect("API-CREATE", checks.status(response, 201), response)
    location = response.headers.get("location")
    expected = actor.user.tasks_url(response.json().get("id")) if response.is_success else None
    judge.expect("API-CREATE", PASS if location == expected else fail(f"Location {location!r}"), response)


@pytest.mark.req("ERR-413", "ERR-NO-5XX", "ERR-REFUSAL-NO-EFFECT", "ERR-NO-POISON")
def test_streamed_body_over_the_limit_is_refused(client: httpx.Client, judge, actor: Owner, table_snapshot):
    watch, rows = Watch.of(client, actor.user), table_snapshot()

    def chunks():
        yield b'{"title": "t", "description": "'
        for _ in range(20):
            yield b"d" * 4096
        yield b'"}'

    headers = {**actor.user.headers, "Content-Type": "application/json"}
    response = client.post(actor.user.tasks_url(), content=chunks(), headers=headers)
    hostile_input(judge, response, watch, token=actor.user.token, must_refuse=False)
    judge.expect("ERR-413", checks.problem(response, 413, "payload-too-large"), response)
    judge.expect("ERR-413", PASS if table_snapshot() == rows else fail("a row changed"), response)
