"""Conditional requests (RFC 9110 §13): a strong ETag per task version, If-Match on every change (412 when stale,
nothing changed), If-None-Match on a read (304), and TODO_REQUIRE_IF_MATCH (428). specs/caching.md."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from harness.checks import assert_problem
from harness.inprocess import make_settings
from harness.users import ApiUser

Change = Callable[[httpx.Client, ApiUser, int, dict[str, str]], httpx.Response]


def _replace(client: httpx.Client, user: ApiUser, task_id: int, headers: dict[str, str]) -> httpx.Response:
    return client.put(user.tasks_url(task_id), json={"title": "replaced"}, headers={**user.headers, **headers})


def _toggle(client: httpx.Client, user: ApiUser, task_id: int, headers: dict[str, str]) -> httpx.Response:
    return client.patch(user.tasks_url(task_id, "/complete"), headers={**user.headers, **headers})


def _set_completed(client: httpx.Client, user: ApiUser, task_id: int, headers: dict[str, str]) -> httpx.Response:
    url = user.tasks_url(task_id, "/complete")
    return client.patch(url, json={"completed": True}, headers={**user.headers, **headers})


def _delete(client: httpx.Client, user: ApiUser, task_id: int, headers: dict[str, str]) -> httpx.Response:
    return client.delete(user.tasks_url(task_id), headers={**user.headers, **headers})


CHANGES = pytest.mark.parametrize(
    "change", [_replace, _toggle, _set_completed, _delete], ids=["put", "toggle", "set-completed", "delete"]
)


def _stored(client: httpx.Client, user: ApiUser, task_id: int) -> dict[str, Any]:
    response = client.get(user.tasks_url(task_id), headers=user.headers)
    assert response.status_code == 200, response.text
    return {"etag": response.headers["etag"], **response.json()}


def _created(client: httpx.Client, user: ApiUser) -> tuple[dict[str, Any], str]:
    response = client.post(user.tasks_url(), json={"title": "versioned"}, headers=user.headers)
    assert response.status_code == 201, response.text
    return response.json(), response.headers["etag"]


@pytest.mark.req("API-ETAG")
def test_every_task_answer_carries_a_strong_etag_that_each_change_moves_on(client, alice):
    task, created = _created(client, alice)
    read = client.get(alice.tasks_url(task["id"]), headers=alice.headers).headers["etag"]
    replaced = _replace(client, alice, task["id"], {}).headers["etag"]
    toggled = _toggle(client, alice, task["id"], {}).headers["etag"]
    set_again = _set_completed(client, alice, task["id"], {}).headers["etag"]

    tags = [created, read, replaced, toggled, set_again]
    assert all(tag.startswith('"') and tag.endswith('"') for tag in tags), tags  # strong: no W/ prefix
    assert created == read
    assert len({created, replaced, toggled, set_again}) == 4, tags


@pytest.mark.req("API-ETAG")
def test_the_list_and_the_task_body_do_not_carry_the_version(client, alice):
    task, _ = _created(client, alice)
    listed = client.get(alice.tasks_url(), headers=alice.headers).json()
    assert "version" not in task
    assert all("version" not in item for item in listed)


@pytest.mark.req("API-IF-MATCH")
@CHANGES
def test_a_change_with_the_current_etag_succeeds(client, alice, change):
    task, tag = _created(client, alice)
    response = change(client, alice, task["id"], {"If-Match": tag})
    assert response.status_code in (200, 204), response.text


@pytest.mark.req("API-IF-MATCH")
@CHANGES
def test_a_change_with_a_stale_etag_gets_412_with_the_current_etag_and_changes_nothing(client, alice, change):
    task, stale = _created(client, alice)
    _replace(client, alice, task["id"], {})
    before = _stored(client, alice, task["id"])

    response = change(client, alice, task["id"], {"If-Match": stale})

    assert_problem(response, 412, "precondition-failed")
    assert response.headers["etag"] == before["etag"]
    assert _stored(client, alice, task["id"]) == before


@pytest.mark.req("API-IF-MATCH")
@pytest.mark.parametrize(
    ("header", "succeeds"),
    [
        ("*", True),
        ('"999999", {current}', True),
        ("W/{current}", False),  # If-Match compares strongly: a weak tag never matches
        ('"not-a-version"', False),
        ("garbage without quotes", False),
    ],
    ids=["star", "list-containing-current", "weak-current", "foreign-tag", "malformed"],
)
def test_if_match_compares_strongly_against_every_tag_it_lists(client, alice, header, succeeds):
    task, tag = _created(client, alice)

    response = _replace(client, alice, task["id"], {"If-Match": header.format(current=tag)})

    if succeeds:
        assert response.status_code == 200, response.text
    else:
        assert_problem(response, 412, "precondition-failed")
        assert _stored(client, alice, task["id"])["title"] == "versioned"


@pytest.mark.req("API-IF-MATCH", "ERR-ORDER")
def test_if_match_on_a_missing_task_is_a_404_not_a_412(client, alice):
    task, tag = _created(client, alice)
    _delete(client, alice, task["id"], {})
    response = _replace(client, alice, task["id"], {"If-Match": tag})
    assert_problem(response, 404, "not-found")


@pytest.mark.req("API-IF-NONE-MATCH")
@pytest.mark.parametrize("header", ["{current}", "W/{current}", '"0", {current}', "*"])
def test_a_read_naming_the_current_etag_is_a_304_without_a_body(client, alice, header):
    task, tag = _created(client, alice)

    response = client.get(
        alice.tasks_url(task["id"]), headers={**alice.headers, "If-None-Match": header.format(current=tag)}
    )

    assert response.status_code == 304
    assert response.headers["etag"] == tag
    assert response.content == b""


@pytest.mark.req("API-IF-NONE-MATCH")
def test_a_read_naming_an_older_etag_gets_the_current_task(client, alice):
    task, stale = _created(client, alice)
    _replace(client, alice, task["id"], {})

    response = client.get(alice.tasks_url(task["id"]), headers={**alice.headers, "If-None-Match": stale})

    assert response.status_code == 200
    assert response.json()["title"] == "replaced"
    assert response.headers["etag"] != stale


@pytest.fixture
def strict_client(client_for, worker_database_url, issuer):
    return client_for(make_settings(worker_database_url, BETTER_AUTH_URL=issuer.base_url, TODO_REQUIRE_IF_MATCH="true"))


@pytest.mark.req("API-REQUIRE-IF-MATCH")
@CHANGES
def test_a_change_without_if_match_gets_428_and_changes_nothing_where_it_is_required(strict_client, alice, change):
    task, tag = _created(strict_client, alice)

    response = change(strict_client, alice, task["id"], {})

    assert_problem(response, 428, "precondition-required")
    assert _stored(strict_client, alice, task["id"]) == {"etag": tag, **task}


@pytest.mark.req("API-REQUIRE-IF-MATCH")
@CHANGES
def test_a_change_with_if_match_succeeds_where_it_is_required(strict_client, alice, change):
    task, tag = _created(strict_client, alice)
    assert change(strict_client, alice, task["id"], {"If-Match": tag}).status_code in (200, 204)


@pytest.mark.req("API-REQUIRE-IF-MATCH")
@CHANGES
def test_a_change_without_if_match_succeeds_by_default(client, alice, change):
    task, _ = _created(client, alice)
    assert change(client, alice, task["id"], {}).status_code in (200, 204)


@pytest.mark.req("API-REQUIRE-IF-MATCH", "ERR-ORDER")
def test_a_missing_task_without_if_match_is_a_428_where_it_is_required(strict_client, alice):
    # 428 comes before 404: the request is incomplete whether or not the task exists (specs/taxonomy.md).
    response = _replace(strict_client, alice, 2**40, {})
    assert_problem(response, 428, "precondition-required")


def _page(client: httpx.Client, user: ApiUser, headers: dict[str, str] | None = None, **query: str) -> httpx.Response:
    return client.get(user.tasks_url(), params=query, headers={**user.headers, **(headers or {})})


@pytest.mark.req("API-LIST-ETAG")
def test_a_page_carries_a_weak_etag_that_stays_while_nothing_on_it_changes(client, alice):
    _created(client, alice)
    first, again = _page(client, alice), _page(client, alice)
    assert first.headers["etag"].startswith('W/"')
    assert again.headers["etag"] == first.headers["etag"]


@pytest.mark.req("API-LIST-ETAG")
@pytest.mark.parametrize("header", ["{current}", "{strong}", '"0", {current}', "*"])
def test_a_page_naming_its_current_etag_is_a_304_without_a_body(client, alice, header):
    _created(client, alice)
    tag = _page(client, alice).headers["etag"]

    response = _page(client, alice, {"If-None-Match": header.format(current=tag, strong=tag.removeprefix("W/"))})

    assert response.status_code == 304
    assert response.headers["etag"] == tag
    assert response.content == b""


@pytest.mark.req("API-LIST-ETAG")
@CHANGES
def test_a_change_to_a_task_on_the_page_moves_its_etag_on(client, alice, change):
    task, _ = _created(client, alice)
    before = _page(client, alice)
    assert change(client, alice, task["id"], {}).is_success

    after = _page(client, alice, {"If-None-Match": before.headers["etag"]})

    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert after.json() != before.json()


@pytest.mark.req("API-LIST-ETAG")
def test_a_page_that_gains_a_next_link_moves_its_etag_on_though_its_rows_are_the_same(client, alice):
    _created(client, alice)
    before = _page(client, alice, sort="created_at", limit="1")
    assert "link" not in before.headers
    _created(client, alice)  # sorts after the first: page one keeps its row and gains a next page

    after = _page(client, alice, {"If-None-Match": before.headers["etag"]}, sort="created_at", limit="1")

    assert after.status_code == 200
    assert after.json() == before.json()
    assert 'rel="next"' in after.headers["link"]
    assert after.headers["etag"] != before.headers["etag"]
