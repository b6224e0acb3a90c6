"""Another user's task id under your own path answers exactly like an id that does not exist: same status, same
headers, same body. Only the per-request id and the id echoed in `instance` may differ, so ids cannot be probed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.scenes import Victim
from harness.task_routes import ITEM_ROUTES, TaskRoute
from harness.users import ApiUser, UserFactory, create_task

# Per-response by nature: the request id, the clock, and the length (which carries the two above).
VARYING_HEADERS = {"x-request-id", "date", "content-length"}


def _fingerprint(response: httpx.Response, route: TaskRoute, prober: ApiUser, task_id: int) -> dict[str, Any]:
    body = response.json()
    request_id = body.pop("request_id")
    assert request_id == response.headers["x-request-id"]
    assert body.pop("instance") == route.url(prober, task_id)
    expected_length = len(response.content) - len(str(task_id)) - len(request_id)
    return {
        "status": response.status_code,
        "headers": {k: v for k, v in response.headers.items() if k not in VARYING_HEADERS},
        "body": body,
        "length-without-ids": expected_length,
        "declared-length-matches": response.headers.get("content-length") == str(len(response.content)),
    }


def _missing_id(client: httpx.Client, prober: ApiUser) -> int:
    """An id that surely does not exist: the prober's own task, deleted."""
    task_id: int = create_task(client, prober, "soon gone")["id"]
    assert client.delete(prober.tasks_url(task_id), headers=prober.headers).status_code == 204
    return task_id


@pytest.mark.req("ISO-INDISTINGUISHABLE", "ERR-404")
@pytest.mark.parametrize("route", ITEM_ROUTES.values(), ids=ITEM_ROUTES.keys())
def test_foreign_task_id_is_indistinguishable_from_a_missing_one(
    client: httpx.Client, victim: Victim, make_user: UserFactory, route: TaskRoute
):
    prober = make_user("prober")
    missing = _missing_id(client, prober)
    foreign = victim.task["id"]
    foreign_answer = route.call(client, prober, prober, foreign)
    missing_answer = route.call(client, prober, prober, missing)
    assert foreign_answer.status_code == 404
    assert _fingerprint(foreign_answer, route, prober, foreign) == _fingerprint(missing_answer, route, prober, missing)
    victim.assert_untouched()
