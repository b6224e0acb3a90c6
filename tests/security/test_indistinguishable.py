"""Another user's task id under your own path answers exactly like an id that does not exist: same status, same
body once the volatile parts are removed (request ids, timestamps, the id itself), so ids cannot be probed.
This backend also keeps the headers and the body's length identical (reference)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from harness import checks
from harness.judgements import FOREIGN_REQS, Watch, foreign_reach
from harness.scenes import Victim
from harness.spec.taxonomy import Sweep, sweep_routes
from harness.users import ApiUser, create_task
from harness.verdicts import PASS, all_of, could_not_run, fail

ITEM_ROUTES = sweep_routes(on_task=True)
# Per-response by nature: request and trace ids, clocks. Removed wherever they appear in a body.
VOLATILE_KEYS = {"request_id", "requestid", "trace_id", "traceid", "correlation_id", "timestamp", "time", "date"}
VARYING_HEADERS = {"x-request-id", "date", "content-length"}


def _normalised(value: Any, replace: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _normalised(v, replace) for k, v in value.items() if k.lower() not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [_normalised(v, replace) for v in value]
    if isinstance(value, str):
        for old, new in replace.items():
            # Whole tokens only: task id 64 must not be replaced inside the user id spec-prober-...f9264b7c.
            value = re.sub(rf"(?<![A-Za-z0-9]){re.escape(old)}(?![A-Za-z0-9])", new, value)
    return value


def _shape(response: httpx.Response, task_id: str) -> dict[str, Any]:
    """Status, media type and body with this answer's own ids replaced by placeholders."""
    replace = {task_id: "{task_id}"}
    if response.headers.get("x-request-id"):
        replace[response.headers["x-request-id"]] = "{request_id}"
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return {
        "status": response.status_code,
        "media type": response.headers.get("content-type", "").split(";")[0],
        "body": _normalised(body, replace),
    }


def _reference_fingerprint(response: httpx.Response, task_id: str) -> dict[str, Any]:
    """This backend's stronger promise: the same headers, and the same length once the ids are taken out."""
    request_id = response.headers.get("x-request-id", "")
    return {
        "headers": {k: v for k, v in response.headers.items() if k not in VARYING_HEADERS},
        "length-without-ids": len(response.content) - len(task_id) - len(request_id),
        "declared-length-matches": response.headers.get("content-length") == str(len(response.content)),
    }


def _missing_id(client: httpx.Client, prober: ApiUser) -> str:
    """An id that surely does not exist: the prober's own task, deleted."""
    task_id = str(create_task(client, prober, "soon gone")["id"])
    client.delete(prober.tasks_url(task_id), headers=prober.headers)
    if client.get(prober.tasks_url(task_id), headers=prober.headers).is_success:
        could_not_run("could not make a missing task id: a deleted task still reads")
    return task_id


@pytest.mark.req("ISO-INDISTINGUISHABLE", *FOREIGN_REQS, "ERR-404")
@pytest.mark.parametrize("route", ITEM_ROUTES.values(), ids=ITEM_ROUTES.keys())
def test_foreign_task_id_is_indistinguishable_from_a_missing_one(
    client: httpx.Client, judge, victim: Victim, make_user, route: Sweep
):
    prober = make_user("prober")
    missing = _missing_id(client, prober)
    watch = Watch.of(client, victim.user)
    foreign_answer = route.call(client, prober, prober, victim.task_id)
    foreign_reach(judge, foreign_answer, watch, private=victim.private, token=prober.token)
    missing_answer = route.call(client, prober, prober, missing)
    foreign, absent = _shape(foreign_answer, victim.task_id), _shape(missing_answer, missing)
    if not foreign_answer.is_success:  # a served foreign id is ISO-MATRIX's finding, not this one's
        differ = fail(f"foreign id: {json.dumps(foreign)[:300]}; missing id: {json.dumps(absent)[:300]}")
        judge.expect("ISO-INDISTINGUISHABLE", PASS if foreign == absent else differ, foreign_answer)
    reference = _reference_fingerprint(foreign_answer, victim.task_id)
    same = reference == _reference_fingerprint(missing_answer, missing)
    alike = PASS if same else fail("foreign and missing ids differ in headers or length")
    judge.expect("ERR-404", all_of(checks.problem(foreign_answer, 404, "not-found"), alike), foreign_answer)


@pytest.mark.req("ISO-INDISTINGUISHABLE")
def test_only_the_id_itself_is_taken_out_never_a_part_of_another_value():
    body = {"instance": "/api/spec-prober-cba38e25f9264b7c/tasks/64/complete", "request_id": "r", "id": "64"}
    assert _normalised(body, {"64": "{task_id}"}) == {
        "instance": "/api/spec-prober-cba38e25f9264b7c/tasks/{task_id}/complete",
        "id": "{task_id}",
    }
