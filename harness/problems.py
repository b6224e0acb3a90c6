"""Assertions about RFC 9457 problem-details responses, shared by the API tests."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


def assert_problem(response: httpx.Response, status: int, slug: str | None = None) -> dict[str, Any]:
    """The response is a problem+json body for `status`, tied to its request; returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert body["type"].startswith("urn:todo-api:problem:")
    if slug is not None:
        assert body["type"] == f"urn:todo-api:problem:{slug}"
    assert body["title"]
    assert body["detail"]
    assert body["instance"] == response.request.url.path
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def error_fields(response: httpx.Response) -> set[str]:
    """The `field` of every entry in a 422's `errors` list."""
    body = assert_problem(response, 422, "validation-error")
    for error in body["errors"]:
        assert error.keys() == {"field", "message", "code"}, error
    return {error["field"] for error in body["errors"]}
