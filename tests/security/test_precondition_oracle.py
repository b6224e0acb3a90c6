"""Preconditions and idempotency keys never cross users. Another user's ETag, sent with If-Match or If-None-Match,
gets exactly the answer the same request gets without it: never a 304 or a 412 that would confirm the task exists or
reveal its version. An Idempotency-Key another user already used creates the caller's own task, never replays or
refuses on the first user's. Contract-neutral: an implementation without ETags or keys passes by ignoring them."""

from __future__ import annotations

import uuid

import httpx
import pytest

from harness import checks
from harness.judgements import FOREIGN_REQS, Watch, foreign_reach, served
from harness.scenes import Victim, private_title
from harness.spec.taxonomy import Sweep, sweep_routes
from harness.users import ApiUser
from harness.verdicts import PASS, could_not_run, fail

ITEM_ROUTES = sweep_routes(on_task=True)
NOT_OURS = '"0"'  # a tag the victim's task never has: its versions start at 1


def _victims_tag(client: httpx.Client, victim: Victim) -> str:
    """The victim's current ETag, as a leaked one would be (a made-up tag when the target sends none)."""
    return client.get(victim.task_url, headers=victim.user.headers).headers.get("etag", '"1"')


def _answer(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.headers.get("content-type", "").split(";")[0]


@pytest.mark.req("ISO-PRECONDITION-ORACLE", *FOREIGN_REQS)
@pytest.mark.parametrize("header", ["If-Match", "If-None-Match"])
@pytest.mark.parametrize("where", ["own-path", "their-path"])
@pytest.mark.parametrize("route", ITEM_ROUTES.values(), ids=ITEM_ROUTES.keys())
def test_another_users_etag_is_no_oracle_on_their_task(
    client: httpx.Client, judge, victim: Victim, make_user, route: Sweep, header: str, where: str
):
    prober = make_user("prober")
    path_of = prober if where == "own-path" else victim.user
    tag = _victims_tag(client, victim)
    watch = Watch.of(client, victim.user)

    answers = {
        condition: route.call(client, prober, path_of, victim.task_id, headers={header: condition} if condition else {})
        for condition in ("", tag, NOT_OURS, "*")  # "": the same request without the header, the baseline
    }

    for response in answers.values():
        foreign_reach(judge, response, watch, private=victim.private, token=prober.token)
    if any(response.is_success for response in answers.values()):
        return  # a served foreign task is ISO-MATRIX's finding (recorded above), not this one's
    seen = {condition: _answer(response) for condition, response in answers.items()}
    oracle = fail(f"{header} changes the answer on another user's task: {seen}")
    judge.expect("ISO-PRECONDITION-ORACLE", PASS if len(set(seen.values())) == 1 else oracle, answers[tag])


def _keyed_post(
    client: httpx.Client, token_of: ApiUser, path_of: ApiUser, key: str, body: dict[str, str]
) -> httpx.Response:
    return client.post(path_of.tasks_url(), json=body, headers={**token_of.headers, "Idempotency-Key": key})


@pytest.mark.req("ISO-PRECONDITION-ORACLE", "ISO-MATRIX")
@pytest.mark.parametrize("body", ["same", "different"])
def test_an_idempotency_key_another_user_used_creates_the_callers_own_task(
    client: httpx.Client, judge, make_user, body: str
):
    victim, prober = make_user("victim"), make_user("prober")
    key = f"shared-{uuid.uuid4().hex}"
    theirs = {"title": private_title("victim"), "description": private_title("victim note")}
    first = _keyed_post(client, victim, victim, key, theirs)
    if not first.is_success or "id" not in first.json():
        could_not_run(f"could not create the victim's keyed task: {checks.describe(first)}")
    watch = Watch.of(client, victim)
    # "same": the prober happens to send the very body (it holds the victim's titles, so they may come back).
    mine = dict(theirs) if body == "same" else {"title": "the prober's own"}

    response = _keyed_post(client, prober, prober, key, mine)

    if served(judge, "ISO-PRECONDITION-ORACLE", response):
        created = response.json()
        replayed = fail("the other user's task was replayed") if created.get("id") == first.json()["id"] else PASS
        judge.expect("ISO-PRECONDITION-ORACLE", replayed, response)
        own = client.get(prober.tasks_url(created.get("id", 0)), headers=prober.headers)
        judge.expect("ISO-PRECONDITION-ORACLE", checks.success(own), own)
    if body == "different":
        judge.expect("ISO-MATRIX", checks.not_in_body(response, "another user's task", *theirs.values()), response)
    unchanged, _ = watch.after()
    judge.expect("ISO-MATRIX", unchanged, response)


@pytest.mark.req("ISO-PRECONDITION-ORACLE", *FOREIGN_REQS)
def test_an_idempotency_key_on_another_users_path_is_refused_and_replays_nothing(
    client: httpx.Client, judge, make_user
):
    victim, prober = make_user("victim"), make_user("prober")
    theirs = {"title": private_title("victim")}
    _keyed_post(client, victim, victim, "their-key", theirs)
    watch = Watch.of(client, victim)

    response = _keyed_post(client, prober, victim, "their-key", theirs)

    foreign_reach(judge, response, watch, private=theirs.values(), token=prober.token)
