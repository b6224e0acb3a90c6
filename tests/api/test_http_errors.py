"""The taxonomy's cases that need more than a table row: 405, 413, 415, 404, 503, health, request ids."""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from harness.checks import assert_problem
from harness.inprocess import make_settings
from harness.users import create_task, list_all

LIMIT = 64 * 1024
LEAK_MARKERS = ("Traceback", "psycopg", "OperationalError", "sqlalchemy", "SELECT", "INSERT", "127.0.0.1:1")


@pytest.mark.req("ERR-405", "ERR-PROBLEM-SHAPE")
@pytest.mark.parametrize(
    ("method", "suffix", "allowed"),
    [
        ("PATCH", None, {"GET", "POST"}),
        ("DELETE", None, {"GET", "POST"}),
        ("POST", "", {"GET", "PUT", "DELETE"}),
        ("GET", "/complete", {"PATCH"}),
    ],
)
def test_a_wrong_method_is_405_with_an_allow_header(client, alice, method, suffix, allowed):
    url = alice.tasks_url() if suffix is None else alice.tasks_url(1, suffix)
    response = client.request(method, url, headers=alice.headers)
    assert_problem(response, 405, "method-not-allowed")
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


def _streamed(total: int, chunk: int = 8192) -> Iterator[bytes]:
    """A JSON body sent chunked (no Content-Length), `total` bytes long."""
    yield b'{"title": "t", "description": "'
    sent = 33
    while sent < total - chunk:
        yield b"d" * chunk
        sent += chunk
    yield b"d" * (total - sent) + b'"}'


@pytest.mark.req("ERR-413")
@pytest.mark.parametrize(
    ("method", "suffix"), [("POST", None), ("PUT", ""), ("PATCH", "/complete")], ids=["POST", "PUT", "PATCH"]
)
def test_a_declared_body_over_64_kib_is_413_and_changes_nothing(client, alice, method, suffix):
    task = create_task(client, alice, "kept")
    url = alice.tasks_url() if suffix is None else alice.tasks_url(task["id"], suffix)
    body = {"title": "t", "description": "d" * LIMIT}

    response = client.request(method, url, json=body, headers=alice.headers)

    assert_problem(response, 413, "payload-too-large")
    assert list_all(client, alice) == [task]


@pytest.mark.req("ERR-413", "ERR-ORDER")
def test_a_declared_oversized_body_is_refused_before_authentication(client, alice):
    response = client.post(alice.tasks_url(), content=b"x" * (LIMIT + 1), headers={"Content-Type": "application/json"})
    assert_problem(response, 413, "payload-too-large")


@pytest.fixture(params=["in-process", "real HTTP"])
def any_client(request, client) -> Iterator[httpx.Client]:
    """The test client, or a plain HTTP client of a real server (chunked encoding on the wire)."""
    if request.param == "in-process":
        yield client
        return
    with httpx.Client(base_url=request.getfixturevalue("live_url"), timeout=10) as remote:
        yield remote


@pytest.mark.req("ERR-413")
def test_a_streamed_body_over_64_kib_is_413_and_changes_nothing(any_client, alice):
    headers = {**alice.headers, "Content-Type": "application/json"}
    response = any_client.post(alice.tasks_url(), content=_streamed(LIMIT + 100), headers=headers)
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload-too-large")
    assert list_all(any_client, alice) == []


@pytest.mark.req("ERR-413")
def test_a_streamed_body_under_the_limit_is_read_normally(client, alice):
    # The counterpart of the test above: chunked bodies are counted, not refused outright.
    headers = {**alice.headers, "Content-Type": "application/json"}
    response = client.post(alice.tasks_url(), content=_streamed(2000), headers=headers)
    assert response.status_code == 201, response.text


@pytest.mark.req("ERR-415")
@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("text/plain", b'{"title": "t"}'),
        ("application/x-www-form-urlencoded", b"title=t"),
        ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="title"\r\n\r\nt\r\n--x--'),
        (None, b'{"title": "t"}'),
    ],
    ids=["text", "form", "multipart", "no content type"],
)
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_a_body_that_is_not_json_is_415_and_changes_nothing(client, alice, content_type, content, method):
    task = create_task(client, alice, "kept")
    url = alice.tasks_url() if method == "POST" else alice.tasks_url(task["id"])
    headers = {**alice.headers, **({"Content-Type": content_type} if content_type else {})}

    response = client.request(method, url, content=content, headers=headers)

    assert_problem(response, 415, "unsupported-media-type")
    assert list_all(client, alice) == [task]


@pytest.mark.req("ERR-415")
def test_a_completion_body_that_is_not_json_is_415(client, alice):
    task = create_task(client, alice)
    headers = {**alice.headers, "Content-Type": "text/plain"}
    response = client.patch(alice.tasks_url(task["id"], "/complete"), content=b'{"completed": true}', headers=headers)
    assert_problem(response, 415, "unsupported-media-type")
    assert client.get(alice.tasks_url(task["id"]), headers=alice.headers).json() == task


@pytest.mark.req("ERR-404", "ERR-PROBLEM-SHAPE")
@pytest.mark.parametrize("path", ["/nope", "/api", "/api/someone", "/api/someone/tasks/1/other", "/healthz/x"])
def test_an_unknown_path_is_a_problem_json_404(client, path):
    assert_problem(client.get(path), 404, "not-found")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never says a word (a hung database)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


@pytest.fixture(params=["refused", "silent"])
def dead_database_url(request) -> str:
    port = 1 if request.param == "refused" else request.getfixturevalue("silent_port")
    return f"postgresql://u@127.0.0.1:{port}/x"


@pytest.fixture
def no_database_client(client_for, issuer, dead_database_url):
    settings = make_settings(dead_database_url, BETTER_AUTH_URL=issuer.base_url, DB_CONNECT_TIMEOUT_SECONDS=1)
    return client_for(settings)


def _assert_unavailable(response, started: float) -> None:
    assert time.monotonic() - started < 8, "the answer must come within the connect timeout, not hang"
    assert_problem(response, 503, "database-unavailable")
    assert response.headers["retry-after"] == "2"
    assert not any(marker in response.text for marker in LEAK_MARKERS), response.text


@pytest.mark.req("ERR-503", "ERR-NO-LEAK")
def test_an_unreachable_database_is_503_with_retry_after_within_bounded_time(no_database_client, alice):
    started = time.monotonic()
    response = no_database_client.post(alice.tasks_url(), json={"title": "t"}, headers=alice.headers)
    _assert_unavailable(response, started)


@pytest.mark.req("OPS-READYZ", "OPS-HEALTHZ")
def test_readyz_is_503_and_healthz_200_while_the_database_is_unreachable(no_database_client):
    started = time.monotonic()
    _assert_unavailable(no_database_client.get("/readyz"), started)
    healthz = no_database_client.get("/healthz")
    assert healthz.status_code == 200
    assert healthz.json() == {"status": "ok"}


@pytest.mark.req("OPS-READYZ", "OPS-HEALTHZ")
@pytest.mark.parametrize(("path", "body"), [("/readyz", {"status": "ready"}), ("/healthz", {"status": "ok"})])
def test_health_endpoints_answer_200_without_authentication(client, path, body):
    response = client.get(path)
    assert response.status_code == 200
    assert response.json() == body


GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@pytest.mark.req("ERR-REQUEST-ID")
@pytest.mark.parametrize("offered", ["abc-123", "trace.id:part_2", "x" * 128], ids=["simple", "punctuated", "128"])
def test_a_well_formed_request_id_is_echoed(client, offered):
    assert client.get("/healthz", headers={"X-Request-ID": offered}).headers["x-request-id"] == offered


@pytest.mark.req("ERR-REQUEST-ID")
@pytest.mark.parametrize("offered", ["x" * 129, "has space", "<script>", "a/b", "semi;colon", ""], ids=repr)
def test_a_malformed_request_id_is_replaced_by_a_generated_one(client, offered):
    returned = client.get("/healthz", headers={"X-Request-ID": offered}).headers["x-request-id"]
    assert returned != offered
    assert GENERATED_ID.fullmatch(returned)


@pytest.mark.req("ERR-REQUEST-ID")
def test_each_request_without_an_id_gets_a_fresh_one(client):
    first, second = (client.get("/healthz").headers["x-request-id"] for _ in range(2))
    assert GENERATED_ID.fullmatch(first)
    assert GENERATED_ID.fullmatch(second)
    assert first != second


@pytest.mark.req("ERR-REQUEST-ID", "ERR-PROBLEM-SHAPE")
@pytest.mark.parametrize(
    ("method", "path_of", "headers_of", "status"),
    [
        ("GET", lambda u: u.tasks_url(), lambda u: {}, 401),
        ("GET", lambda u: "/api/someone-else/tasks", lambda u: u.headers, 403),
        ("GET", lambda u: u.tasks_url(999_999_999), lambda u: u.headers, 404),
        ("PATCH", lambda u: u.tasks_url(), lambda u: u.headers, 405),
        ("GET", lambda u: u.tasks_url(), lambda u: {**u.headers, "Content-Length": str(LIMIT + 1)}, 413),
        ("GET", lambda u: u.tasks_url("abc"), lambda u: u.headers, 422),
    ],
    ids=["401", "403", "404", "405", "413", "422"],
)
def test_errors_carry_the_request_id_in_header_body_and_access_log(
    client, alice, access_log, method, path_of, headers_of, status
):
    path = path_of(alice)
    headers = {**headers_of(alice), "X-Request-ID": f"err-{status}"}
    if status == 413:
        response = client.request(method, path, content=b"x" * (LIMIT + 1), headers=headers)
    else:
        response = client.request(method, path, headers=headers)

    assert response.headers["x-request-id"] == f"err-{status}"
    assert_problem(response, status)
    logged = [r for r in access_log.records if r.getMessage().startswith(f"{method} {path} {status} ")]
    assert logged, "no access-log line for the request"
    assert {getattr(record, "request_id", None) for record in logged} == {f"err-{status}"}
    line = logging.getLogger("backend").handlers[0].format(logged[0])
    assert f"request_id=err-{status}" in line
