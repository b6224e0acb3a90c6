"""Each task route's success behaviour (issue 2, "The API")."""

from __future__ import annotations

from datetime import datetime

import pytest

from harness.users import create_task, list_all

TASK_FIELDS = {"id", "title", "description", "completed", "created_at", "updated_at", "completed_at"}


def _when(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"timestamp without a time zone: {value}"
    return parsed


@pytest.mark.req("API-LIST")
def test_list_returns_a_json_array_of_only_the_users_tasks(client, alice, bob):
    own = {create_task(client, alice, f"alice {n}")["id"] for n in range(3)}
    create_task(client, bob, "bob's")

    response = client.get(alice.tasks_url(), headers=alice.headers)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body, list)
    assert {task["id"] for task in body} == own


@pytest.mark.req("API-LIST", "DB-FIRST-USE")
def test_list_for_a_user_never_seen_before_is_an_empty_array(client, alice):
    response = client.get(alice.tasks_url(), headers=alice.headers)
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.req("API-CREATE", "API-TITLE-RULES")
def test_create_returns_201_the_trimmed_task_and_a_location_that_reads_it_back(client, alice):
    response = client.post(
        alice.tasks_url(), json={"title": "  Buy milk\t", "description": "2 litres"}, headers=alice.headers
    )

    assert response.status_code == 201
    created = response.json()
    assert created["title"] == "Buy milk"
    assert created["description"] == "2 litres"
    assert created["completed"] is False
    assert created["completed_at"] is None
    assert response.headers["location"] == alice.tasks_url(created["id"])
    read_back = client.get(response.headers["location"], headers=alice.headers)
    assert read_back.status_code == 200
    assert read_back.json() == created


@pytest.mark.req("API-CREATE", "API-DESCRIPTION-RULES")
def test_create_without_description_stores_null(client, alice):
    assert create_task(client, alice, "no description")["description"] is None


@pytest.mark.req("API-GET")
def test_get_returns_200_and_the_task(client, alice):
    task = create_task(client, alice, "read me", description="details")
    response = client.get(alice.tasks_url(task["id"]), headers=alice.headers)
    assert response.status_code == 200
    assert response.json() == task


@pytest.mark.req("API-REPLACE")
def test_put_replaces_the_editable_fields_and_an_omitted_description_becomes_null(client, alice):
    task = create_task(client, alice, "old title", description="old description")

    response = client.put(alice.tasks_url(task["id"]), json={"title": "  new title "}, headers=alice.headers)

    assert response.status_code == 200
    replaced = response.json()
    assert replaced["title"] == "new title"
    assert replaced["description"] is None
    assert replaced["id"] == task["id"]
    assert replaced["created_at"] == task["created_at"]
    assert _when(replaced["updated_at"]) > _when(task["updated_at"])
    assert client.get(alice.tasks_url(task["id"]), headers=alice.headers).json() == replaced


@pytest.mark.req("API-REPLACE")
def test_put_sets_a_new_description(client, alice):
    task = create_task(client, alice, "title")
    body = {"title": "title", "description": "now described"}
    response = client.put(alice.tasks_url(task["id"]), json=body, headers=alice.headers)
    assert response.status_code == 200
    assert response.json()["description"] == "now described"


@pytest.mark.req("API-DELETE")
def test_delete_returns_204_and_the_task_is_gone(client, alice):
    task = create_task(client, alice, "doomed")
    kept = create_task(client, alice, "kept")

    response = client.delete(alice.tasks_url(task["id"]), headers=alice.headers)

    assert response.status_code == 204
    assert response.content == b""
    assert client.get(alice.tasks_url(task["id"]), headers=alice.headers).status_code == 404
    assert client.delete(alice.tasks_url(task["id"]), headers=alice.headers).status_code == 404
    assert [t["id"] for t in list_all(client, alice)] == [kept["id"]]


@pytest.mark.req("API-SET-COMPLETE")
def test_patch_without_a_body_toggles_completion_and_sets_then_clears_completed_at(client, alice):
    task = create_task(client, alice)
    url = alice.tasks_url(task["id"], "/complete")

    done = client.patch(url, headers=alice.headers)
    assert done.status_code == 200
    assert done.json()["completed"] is True
    assert _when(done.json()["completed_at"]) >= _when(task["created_at"])

    undone = client.patch(url, headers=alice.headers)
    assert undone.status_code == 200
    assert undone.json()["completed"] is False
    assert undone.json()["completed_at"] is None
    assert client.get(alice.tasks_url(task["id"]), headers=alice.headers).json() == undone.json()


@pytest.mark.req("API-SET-COMPLETE")
@pytest.mark.parametrize("completed", [True, False])
def test_patch_with_completed_sets_the_state_and_a_retry_changes_nothing(client, alice, completed):
    task = create_task(client, alice)
    url = alice.tasks_url(task["id"], "/complete")
    if not completed:  # start from the opposite state, so the first request is a real change
        client.patch(url, headers=alice.headers)

    first = client.patch(url, json={"completed": completed}, headers=alice.headers)
    retry = client.patch(url, json={"completed": completed}, headers=alice.headers)

    assert first.status_code == retry.status_code == 200
    assert first.json()["completed"] is retry.json()["completed"] is completed
    assert (first.json()["completed_at"] is not None) is completed
    # The retry keeps the original completion time: it is the same request, not a new completion.
    assert retry.json()["completed_at"] == first.json()["completed_at"]


@pytest.mark.req("API-TASK-SHAPE")
def test_every_route_returns_tasks_with_exactly_the_seven_fields(client, alice):
    created = create_task(client, alice, "shape", description="d")
    url = alice.tasks_url(created["id"])
    bodies = [
        created,
        client.get(url, headers=alice.headers).json(),
        client.put(url, json={"title": "shape"}, headers=alice.headers).json(),
        client.patch(f"{url}/complete", headers=alice.headers).json(),
        *client.get(alice.tasks_url(), headers=alice.headers).json(),
    ]
    for body in bodies:
        assert body.keys() == TASK_FIELDS
        assert isinstance(body["id"], int)
        assert isinstance(body["completed"], bool)
        _when(body["created_at"])
        _when(body["updated_at"])
