from __future__ import annotations

import pytest

from tests.support.users import create_task


@pytest.mark.req("API-CREATE")
def test_create_returns_201_with_location_and_trimmed_title(client, alice):
    response = client.post(alice.tasks_url(), json={"title": "  Buy milk  "}, headers=alice.headers)
    assert response.status_code == 201
    body = response.json()
    assert body["title"] == "Buy milk"
    assert response.headers["location"] == alice.tasks_url(body["id"])


@pytest.mark.req("API-TOGGLE")
def test_toggle_flips_completion(client, alice):
    task = create_task(client, alice)
    response = client.patch(alice.tasks_url(task["id"], "/complete"), headers=alice.headers)
    assert response.status_code == 200
    assert response.json()["completed"] is True
    assert response.json()["completed_at"] is not None
