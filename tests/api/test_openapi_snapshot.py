"""The served OpenAPI document is the committed contract, specs/openapi.json."""

from __future__ import annotations

import copy

import pytest

from harness.spec import openapi


@pytest.mark.req("API-OPENAPI-SNAPSHOT")
def test_served_openapi_equals_the_committed_snapshot(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    difference = openapi.drift(response.json())
    if difference:
        pytest.fail(
            f"The served OpenAPI document drifted from specs/openapi.json:\n{difference}\n"
            f"If the change is intended, regenerate the snapshot and commit it: {openapi.WRITE_COMMAND}",
            pytrace=False,
        )


@pytest.mark.req("API-OPENAPI-SNAPSHOT")
def test_a_drifted_schema_is_reported_as_a_readable_diff():
    schema = copy.deepcopy(openapi.reference_schema())
    assert openapi.drift(schema) == "", f"the code and the snapshot differ: {openapi.WRITE_COMMAND}"
    schema["paths"]["/api/{user_id}/tasks"]["get"]["summary"] = "List everybody's tasks"
    difference = openapi.drift(schema)
    assert '-        "summary": "List the user\'s tasks",' in difference
    assert '+        "summary": "List everybody\'s tasks",' in difference
