"""The seed's contract, judged as any implementation of it must meet it: the six routes serve their owner with 2xx
answers (whatever the exact code), a toggle flips completion, and a deleted task is gone (a 4xx)."""

from __future__ import annotations

import httpx
import pytest

from harness import checks
from harness.judgements import served
from harness.verdicts import PASS, fail


def _completed(response: httpx.Response) -> object:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("completed") if isinstance(body, dict) else None


@pytest.mark.req("API-ROUTES", "API-GET", "API-LIST", "API-TOGGLE")
def test_the_six_routes_serve_their_owner(client: httpx.Client, judge, make_user):
    user = make_user("seed")
    created = client.post(user.tasks_url(), json={"title": "seed journey", "description": "d"}, headers=user.headers)
    if not served(judge, "API-ROUTES", created):
        return
    task = created.json()
    url = user.tasks_url(task["id"])

    read = client.get(url, headers=user.headers)
    judge.expect("API-GET", checks.success(read), read)
    judge.expect("API-GET", checks.shows(read, task), read)

    listed = client.get(user.tasks_url(), headers=user.headers)
    judge.expect("API-LIST", checks.success(listed), listed)
    ids = [str(t.get("id")) for t in listed.json() if isinstance(t, dict)] if checks.json_content(listed) else []
    judge.expect("API-LIST", PASS if ids == [str(task["id"])] else fail(f"the list holds {ids}"), listed)

    replaced = client.put(url, json={"title": "seed journey, replaced"}, headers=user.headers)
    served(judge, "API-ROUTES", replaced)
    judge.expect(
        "API-ROUTES",
        checks.shows(client.get(url, headers=user.headers), {**task, "title": "seed journey, replaced"}),
        replaced,
    )

    for expected in (True, False):
        toggled = client.patch(user.tasks_url(task["id"], "/complete"), headers=user.headers)
        judge.expect("API-TOGGLE", checks.success(toggled), toggled)
        judge.expect(
            "API-TOGGLE",
            PASS if _completed(toggled) is expected else fail(f"completed is {_completed(toggled)}"),
            toggled,
        )

    deleted = client.delete(url, headers=user.headers)
    served(judge, "API-ROUTES", deleted)
    gone = client.get(url, headers=user.headers)
    judge.expect("API-ROUTES", checks.client_error(gone), gone)
