"""Validation: every invalid body, query or path value is a 422 naming the field, never a 500 or a silent fix."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checks import error_fields
from harness.users import ApiUser, create_task, list_all

READ_ONLY_FIELDS = ["id", "user_id", "owner", "created_at", "updated_at", "completed_at", "completed", "priority"]
BAD_TITLES: list[Any] = ["", "   ", "\t\n ", "x" * 201, "a\x00b", 123, None, True, ["a"], {"text": "a"}]


@dataclass
class Writer:
    """Sends a body to POST /tasks or to PUT an existing task (each write test runs for both)."""

    client: Any
    user: ApiUser
    method: str
    url: str

    def __call__(self, body: Any):
        return self.client.request(self.method, self.url, json=body, headers=self.user.headers)

    def raw(self, content: bytes):
        headers = {**self.user.headers, "Content-Type": "application/json"}
        return self.client.request(self.method, self.url, content=content, headers=headers)


@pytest.fixture(params=["POST", "PUT"])
def write(request, client, alice) -> Writer:
    url = alice.tasks_url() if request.param == "POST" else alice.tasks_url(create_task(client, alice, "kept")["id"])
    return Writer(client, alice, request.param, url)


@pytest.mark.req("API-TITLE-RULES", "ERR-422", "ERR-VALIDATION-FIELDS")
@pytest.mark.parametrize("title", BAD_TITLES, ids=repr)
def test_an_invalid_title_is_refused_with_422_naming_body_title(client, alice, write, title):
    before = list_all(client, alice)
    response = write({"title": title})
    assert error_fields(response) == {"body.title"}
    assert list_all(client, alice) == before


@pytest.mark.req("API-TITLE-RULES", "ERR-VALIDATION-FIELDS")
def test_a_missing_title_is_refused_with_422_naming_body_title(write):
    assert error_fields(write({"description": "no title"})) == {"body.title"}


@pytest.mark.req("API-TITLE-RULES")
def test_a_title_of_200_characters_after_trimming_is_accepted(write):
    response = write({"title": f"  {'x' * 200}  "})
    assert response.status_code in (200, 201), response.text
    assert response.json()["title"] == "x" * 200


@pytest.mark.req("API-DESCRIPTION-RULES", "ERR-422")
@pytest.mark.parametrize("description", ["d" * 2001, 7, ["d"], "a\x00b"], ids=["2001 chars", "int", "list", "NUL"])
def test_an_invalid_description_is_refused_with_422_naming_body_description(write, description):
    assert error_fields(write({"title": "t", "description": description})) == {"body.description"}


@pytest.mark.req("API-DESCRIPTION-RULES")
def test_a_description_of_2000_characters_is_accepted(write):
    response = write({"title": "t", "description": "d" * 2000})
    assert response.status_code in (200, 201), response.text
    assert response.json()["description"] == "d" * 2000


@pytest.mark.req("API-READONLY-FIELDS", "ERR-VALIDATION-FIELDS")
@pytest.mark.parametrize("field", READ_ONLY_FIELDS)
def test_a_read_only_or_unknown_field_in_a_body_is_refused_with_422(client, alice, bob, write, field):
    before = list_all(client, alice)
    value = bob.id if field in ("user_id", "owner") else True if field == "completed" else 1
    response = write({"title": "t", field: value})
    assert error_fields(response) == {f"body.{field}"}
    assert list_all(client, alice) == before
    assert list_all(client, bob) == []


@pytest.mark.req("ERR-422")
@pytest.mark.parametrize("raw", [b"{not json", b"", b"[]", b'"a title"', b"null", b'{"title": "a"'], ids=repr)
def test_a_body_that_is_not_a_json_object_is_a_422(client, alice, write, raw):
    before = list_all(client, alice)
    response = write.raw(raw)
    assert response.status_code == 422, response.text
    assert error_fields(response) == {"body"}
    assert list_all(client, alice) == before


@pytest.mark.req("API-SET-COMPLETE", "ERR-422", "ERR-VALIDATION-FIELDS")
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body.completed"),
        ({"completed": "yes"}, "body.completed"),
        ({"completed": 1}, "body.completed"),
        ({"completed": None}, "body.completed"),
        ({"completed": True, "title": "x"}, "body.title"),
        ({"completed": True, "completed_at": "2020-01-01T00:00:00Z"}, "body.completed_at"),
    ],
    ids=repr,
)
def test_an_invalid_completion_body_is_refused_with_422(client, alice, body, field):
    task = create_task(client, alice)
    response = client.patch(alice.tasks_url(task["id"], "/complete"), json=body, headers=alice.headers)
    assert field in error_fields(response)
    assert client.get(alice.tasks_url(task["id"]), headers=alice.headers).json() == task


@pytest.mark.req("API-LIST-LIMIT", "API-LIST-FILTER", "API-LIST-SORT", "ERR-422", "ERR-VALIDATION-FIELDS")
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "query.limit"),
        ({"limit": 201}, "query.limit"),
        ({"limit": -1}, "query.limit"),
        ({"limit": "abc"}, "query.limit"),
        ({"limit": "1.5"}, "query.limit"),
        ({"status": "done"}, "query.status"),
        ({"status": ""}, "query.status"),
        ({"sort": "priority"}, "query.sort"),
        ({"sort": "--title"}, "query.sort"),
        ({"sort": "TITLE"}, "query.sort"),
    ],
    ids=repr,
)
def test_an_invalid_list_parameter_is_refused_with_422_naming_it(client, alice, params, field):
    assert error_fields(client.get(alice.tasks_url(), params=params, headers=alice.headers)) == {field}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.req("API-PAGINATION", "ERR-422")
@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        _b64(b"not json"),
        _b64(b"[1, 2]"),
        _b64(json.dumps({"s": "-created_at", "v": "yesterday", "i": 1}).encode()),
        _b64(json.dumps({"s": "-created_at", "v": "2026-01-01T00:00:00+00:00", "i": 0}).encode()),
        _b64(json.dumps({"s": "-created_at", "v": "2026-01-01T00:00:00+00:00", "i": 2**63}).encode()),
        _b64(json.dumps({"s": "-created_at", "v": "2026-01-01T00:00:00", "i": 1}).encode()),
        "x" * 1025,
    ],
    ids=["not base64", "not json", "not an object", "bad timestamp", "id 0", "id too big", "naive time", "too long"],
)
def test_a_malformed_cursor_is_refused_with_422(client, alice, cursor):
    response = client.get(alice.tasks_url(), params={"cursor": cursor}, headers=alice.headers)
    assert error_fields(response) == {"query.cursor"}


@pytest.mark.req("API-PAGINATION", "ERR-422")
def test_a_cursor_from_another_sort_order_is_refused_with_422(client, alice):
    for n in range(3):
        create_task(client, alice, f"task {n}")
    first = client.get(alice.tasks_url(), params={"sort": "title", "limit": 1}, headers=alice.headers)
    cursor = first.links["next"]["url"].split("cursor=")[1]

    response = client.get(alice.tasks_url(), params={"sort": "-title", "cursor": cursor}, headers=alice.headers)

    assert error_fields(response) == {"query.cursor"}


@pytest.mark.req("ERR-422", "ERR-VALIDATION-FIELDS")
@pytest.mark.parametrize("task_id", ["abc", "0", "-1", "1.5", str(2**63)], ids=repr)
@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("GET", "", None), ("PUT", "", {"title": "t"}), ("DELETE", "", None), ("PATCH", "/complete", None)],
    ids=["GET", "PUT", "DELETE", "PATCH"],
)
def test_a_task_id_that_is_not_a_positive_64_bit_integer_is_a_422(client, alice, task_id, method, suffix, body):
    response = client.request(method, alice.tasks_url(task_id, suffix), json=body, headers=alice.headers)
    assert error_fields(response) == {"path.task_id"}


@pytest.mark.req("ERR-422")
@pytest.mark.parametrize("alias", ["{id}.0", "+{id}", "0{id}", " {id}"], ids=repr)
def test_only_the_canonical_spelling_of_a_task_id_names_the_task(client, alice, alias):
    task = create_task(client, alice)
    response = client.get(alice.tasks_url(alias.format(id=task["id"])), headers=alice.headers)
    assert error_fields(response) == {"path.task_id"}


@pytest.mark.req("ERR-422")
def test_the_largest_64_bit_task_id_is_valid_and_simply_not_found(client, alice):
    assert client.get(alice.tasks_url(2**63 - 1), headers=alice.headers).status_code == 404


# What the API trims: Unicode White_Space. Python's str.isspace() also counts the ASCII information separators
# U+001C..U+001F, which are control characters, not white space, so they are kept like any other character.
# ECMA-262's WhiteSpace and LineTerminator: what JSON Schema's \\s means, and what a title is trimmed of.
ECMA_WHITESPACE = (
    "\t\n\x0b\x0c\r \u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)


@pytest.mark.req("API-TITLE-RULES", "ERR-422")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    title=st.text(max_size=210) | st.text(alphabet=" \t\n\r\x0b\x0c\x1f\x85\u00a0\u200b\u3000\ufeffx\x00", max_size=205)
)
def test_any_title_is_either_created_trimmed_or_refused_with_422(client, alice, title):
    response = client.post(alice.tasks_url(), json={"title": title}, headers=alice.headers)
    expected = title.strip(ECMA_WHITESPACE)
    if 1 <= len(expected) <= 200 and "\x00" not in expected:
        assert response.status_code == 201, response.text
        assert response.json()["title"] == expected
    else:
        assert error_fields(response) == {"body.title"}
