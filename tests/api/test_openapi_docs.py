"""The generated OpenAPI document: every response code documented with an example, bearerAuth everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openapi_spec_validator import validate

from backend.tasks.schemas import NO_NUL_PATTERN, TITLE_PATTERN
from harness.checks import assert_problem
from harness.inprocess import make_settings
from harness.verdicts import could_not_run

_COMMON = {"401", "403", "422", "500", "503"}
# Every status each operation can answer (besides 405, which is about the path, not the operation).
EXPECTED_RESPONSES = {
    ("/api/{user_id}/tasks", "get"): {"200", "304", *_COMMON},
    ("/api/{user_id}/tasks", "post"): {"201", "409", "413", "415", *_COMMON},
    ("/api/{user_id}/tasks/{task_id}", "get"): {"200", "304", "404", *_COMMON},
    ("/api/{user_id}/tasks/{task_id}", "put"): {"200", "404", "412", "413", "415", "428", *_COMMON},
    ("/api/{user_id}/tasks/{task_id}", "delete"): {"204", "404", "412", "428", *_COMMON},
    ("/api/{user_id}/tasks/{task_id}/complete", "patch"): {"200", "404", "412", "413", "415", "428", *_COMMON},
    ("/healthz", "get"): {"200"},
    ("/readyz", "get"): {"200", "503"},
}


@pytest.fixture(scope="module")
def openapi(client) -> dict[str, Any]:
    response = client.get("/openapi.json")
    if not response.is_success:
        could_not_run("the target serves no /openapi.json")
    document: dict[str, Any] = response.json()
    return document


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(path, method): op for path, item in document["paths"].items() for method, op in item.items()}


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        return _resolve(document, document["components"]["schemas"][name])
    if schema.get("type") == "array":
        return _resolve(document, schema["items"])
    return schema


def _has_example(document: dict[str, Any], media: dict[str, Any]) -> bool:
    return "example" in media or "examples" in media or "examples" in _resolve(document, media.get("schema", {}))


@pytest.mark.req("API-OPENAPI")
def test_the_document_lists_exactly_the_api_operations(openapi):
    assert set(_operations(openapi)) == set(EXPECTED_RESPONSES)


@pytest.mark.req("API-OPENAPI")
@pytest.mark.parametrize(("path", "method"), sorted(EXPECTED_RESPONSES))
def test_every_operation_documents_each_of_its_response_codes_with_an_example(openapi, path, method):
    responses = _operations(openapi)[(path, method)]["responses"]
    assert set(responses) == EXPECTED_RESPONSES[(path, method)]
    for status, response in responses.items():
        assert response["description"], f"{status} has no description"
        if status in ("204", "304"):
            assert "content" not in response
            continue
        assert response.get("content"), f"{status} documents no body"
        for media_type, media in response["content"].items():
            assert _has_example(openapi, media), f"{method.upper()} {path} {status} {media_type} has no example"


@pytest.mark.req("API-OPENAPI", "ERR-PROBLEM-SHAPE")
def test_error_responses_are_documented_as_problem_json(openapi):
    for (path, method), operation in _operations(openapi).items():
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert set(response["content"]) == {"application/problem+json"}, (path, method, status)
                media = response["content"]["application/problem+json"]
                assert media["schema"] == {"$ref": "#/components/schemas/Problem"}
                examples = (
                    [media["example"]] if "example" in media else [e["value"] for e in media["examples"].values()]
                )
                assert {example["status"] for example in examples} == {int(status)}


@pytest.mark.req("API-OPENAPI", "API-IDEMPOTENCY-MISMATCH")
def test_a_create_documents_both_of_its_422_problem_types(openapi):
    media = _operations(openapi)[("/api/{user_id}/tasks", "post")]["responses"]["422"]["content"]
    examples = media["application/problem+json"]["examples"]
    assert {example["value"]["type"] for example in examples.values()} == {
        "urn:todo-api:problem:validation-error",
        "urn:todo-api:problem:idempotency-key-reused",
    }


CONDITIONAL_HEADERS = {
    ("/api/{user_id}/tasks", "post"): "Idempotency-Key",
    ("/api/{user_id}/tasks/{task_id}", "get"): "If-None-Match",
    ("/api/{user_id}/tasks/{task_id}", "put"): "If-Match",
    ("/api/{user_id}/tasks/{task_id}", "delete"): "If-Match",
    ("/api/{user_id}/tasks/{task_id}/complete", "patch"): "If-Match",
}


@pytest.mark.req("API-OPENAPI", "API-ETAG", "API-IF-MATCH", "API-IF-NONE-MATCH", "API-IDEMPOTENCY-KEY-FORMAT")
@pytest.mark.parametrize(("path", "method"), sorted(CONDITIONAL_HEADERS))
def test_the_conditional_headers_and_the_etag_are_documented(openapi, path, method):
    operation = _operations(openapi)[(path, method)]
    headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
    assert set(headers) == {CONDITIONAL_HEADERS[(path, method)]}
    assert headers[CONDITIONAL_HEADERS[(path, method)]]["schema"]["type"] == "string"  # never null
    for status, response in operation["responses"].items():
        if status in ("200", "201", "304"):
            assert "ETag" in response["headers"], f"{method.upper()} {path} {status} does not document ETag"


@pytest.mark.req("API-OPENAPI")
def test_the_bearer_auth_scheme_is_declared(openapi):
    scheme = openapi["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")


@pytest.mark.req("API-OPENAPI")
def test_every_api_operation_requires_bearer_auth_and_health_says_it_is_public(openapi):
    for (path, _), operation in _operations(openapi).items():
        expected = [{"bearerAuth": []}] if path.startswith("/api/") else []
        assert operation["security"] == expected, path


@pytest.mark.req("API-OPENAPI")
def test_request_bodies_are_documented_with_examples(openapi):
    operations = _operations(openapi)
    for key in [("/api/{user_id}/tasks", "post"), ("/api/{user_id}/tasks/{task_id}", "put")]:
        body = operations[key]["requestBody"]
        assert body["required"] is True
        assert body["content"]["application/json"]["example"]["title"]
    toggle = operations[("/api/{user_id}/tasks/{task_id}/complete", "patch")]["requestBody"]
    assert toggle["required"] is False  # no body toggles
    assert toggle["content"]["application/json"]["example"] == {"completed": True}


@pytest.mark.req("API-OPENAPI", "OPS-DOCS-TOGGLE")
@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_docs_are_served_by_default(client, path):
    assert client.get(path).status_code == 200


@pytest.mark.req("OPS-DOCS-TOGGLE")
@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"])
def test_docs_enabled_false_removes_the_docs(client_for, worker_database_url, issuer, path):
    settings = make_settings(worker_database_url, BETTER_AUTH_URL=issuer.base_url, TODO_DOCS_ENABLED="false")
    assert_problem(client_for(settings).get(path), 404, "not-found")


@pytest.mark.req("API-OPENAPI-VALID")
def test_the_document_is_valid_openapi(openapi):
    validate(openapi)  # raises on the first violation, naming it


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


@pytest.mark.req("API-OPENAPI-VALID")
def test_id_bounds_are_json_schema_keywords_and_no_pydantic_keyword_leaks(openapi):
    schema = next(
        p["schema"]
        for p in openapi["paths"]["/api/{user_id}/tasks/{task_id}"]["get"]["parameters"]
        if p["name"] == "task_id"
    )
    assert (schema["type"], schema["minimum"], schema["maximum"]) == ("integer", 1, 2**63 - 1)
    assert {"ge", "le", "gt", "lt", "min_length", "max_length"}.isdisjoint(_keys(openapi["paths"]))


@pytest.mark.req("API-OPENAPI-VALID")
def test_the_title_and_description_rules_are_stated_as_patterns(openapi):
    properties = openapi["components"]["schemas"]["TaskWrite"]["properties"]
    assert properties["title"]["pattern"] == TITLE_PATTERN
    assert properties["description"]["anyOf"][0]["pattern"] == NO_NUL_PATTERN


@pytest.mark.req("API-OPENAPI-VALID")
def test_a_created_task_links_to_every_route_that_reaches_it(openapi):
    operations = {op.get("operationId") for item in openapi["paths"].values() for op in item.values()}
    links = openapi["paths"]["/api/{user_id}/tasks"]["post"]["responses"]["201"]["links"]
    assert {link["operationId"] for link in links.values()} == {
        "get_task",
        "replace_task",
        "delete_task",
        "complete_task",
    }
    assert {link["operationId"] for link in links.values()} <= operations
    for link in links.values():
        assert link["parameters"] == {"user_id": "$request.path.user_id", "task_id": "$response.body#/id"}
