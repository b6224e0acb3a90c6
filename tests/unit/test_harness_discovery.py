"""Route shapes are read from a target's OpenAPI document (parameter names, create status, id type, every
operation), or from flags when it serves none; the cleanup ledger learns task ids from any successful create."""

from __future__ import annotations

import json

import httpx
import pytest

from harness.cleanup import CreatedTasks
from harness.discovery import Endpoint, from_flags, from_openapi
from harness.spec.openapi import SNAPSHOT
from harness.users import TaskPaths


def _document(prefix: str, user: str, task: str, create_status: str, id_schema: dict) -> dict:
    item = f"{prefix}/{{{user}}}/tasks/{{{task}}}"
    parameter = {"name": task, "in": "path", "schema": id_schema}
    return {
        "paths": {
            f"{prefix}/{{{user}}}/tasks": {"get": {}, "post": {"responses": {create_status: {}, "422": {}}}},
            item: {m: {"parameters": [parameter]} for m in ("get", "put", "delete")},
            f"{item}/done": {"patch": {}},
            "/healthz": {"get": {}},
        }
    }


@pytest.mark.req("SPEC-DISCOVERY")
def test_this_backends_own_document_gives_its_own_layout():
    shapes = from_openapi(json.loads(SNAPSHOT.read_text()), "snapshot")
    assert shapes is not None
    assert (shapes.user_param, shapes.task_param, shapes.create_status, shapes.id_type) == (
        "user_id",
        "task_id",
        201,
        "integer",
    )
    assert shapes.paths == TaskPaths()
    assert Endpoint("PATCH", "/api/{user_id}/tasks/{task_id}/complete") in shapes.under_user()


@pytest.mark.req("SPEC-DISCOVERY")
def test_another_layout_is_read_as_it_is_documented():
    document = _document("/v2", "owner", "id", "200", {"type": "string", "format": "uuid"})
    shapes = from_openapi(document, "elsewhere")
    assert shapes is not None
    assert (shapes.user_param, shapes.task_param, shapes.create_status, shapes.id_type) == (
        "owner",
        "id",
        200,
        "string",
    )
    assert shapes.paths.collection_url("u 1") == "/v2/u%201/tasks"
    assert shapes.paths.complete_suffix == "/done"
    assert next(e.template for e in shapes.under_user()).startswith("/v2/{owner}/tasks")
    assert Endpoint("GET", "/healthz") not in shapes.under_user()


@pytest.mark.req("SPEC-DISCOVERY")
def test_a_document_without_the_seed_collection_is_not_mistaken_for_one():
    assert from_openapi({"paths": {"/api/{user_id}/notes": {"get": {}, "post": {}}}}, "x") is None


@pytest.mark.req("SPEC-DISCOVERY")
def test_flags_describe_a_target_without_a_document():
    shapes = from_flags("/api/{uid}/tasks", "id", 200, "string")
    assert (shapes.user_param, shapes.task_param, shapes.create_status) == ("uid", "id", 200)
    with pytest.raises(ValueError, match="must look like"):
        from_flags("/tasks", "id", None, "integer")


@pytest.mark.req("SPEC-DISCOVERY")
@pytest.mark.parametrize(
    ("method", "path", "status", "body", "recorded"),
    [
        ("POST", "/api/alice/tasks", 200, {"id": 7}, {"alice": {"7"}}),
        ("POST", "/api/alice/tasks", 201, {"id": "6f1c"}, {"alice": {"6f1c"}}),
        ("POST", "/api/alice/tasks", 422, {"id": 7}, {}),
        ("PUT", "/api/alice/tasks/7", 200, {"id": 7}, {}),
        ("POST", "/api/alice/tasks/7", 200, {"id": 7}, {}),
        ("POST", "/api/alice/tasks", 200, ["not", "a", "task"], {}),
    ],
)
def test_the_cleanup_ledger_records_tasks_from_successful_creates_only(method, path, status, body, recorded):
    ledger = CreatedTasks(TaskPaths())
    ledger.record(httpx.Response(status, json=body, request=httpx.Request(method, f"http://t{path}")))
    assert dict(ledger.by_user) == recorded
