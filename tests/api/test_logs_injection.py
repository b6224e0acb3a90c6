"""Log injection (CWE-117), through the app with its real handler and formatter, in both formats: control characters
in the path, the query, the headers, a token's `sub` and a body never start a new log line or reach the log raw, and
no token text is ever logged."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from backend.app import create_app
from harness.inprocess import make_settings

# The characters an attacker would use: line breaks of every kind, NUL, ANSI (ESC and the C1 CSI), DEL.
HOSTILE = {
    "LF": ("\n", "\\x0a"),
    "CR": ("\r", "\\x0d"),
    "NUL": ("\x00", "\\x00"),
    "ANSI": ("\x1b[31m", "\\x1b[31m"),
    "CSI": ("\x9b2J", "\\x9b2J"),
    "DEL": ("\x7f", "\\x7f"),
    "NEL": ("\x85", "\\x85"),
    "U+2028": ("\u2028", "\\u2028"),
    "U+2029": ("\u2029", "\\u2029"),
}
ALL_HOSTILE = "".join(raw for raw, _ in HOSTILE.values())
STORABLE = ALL_HOSTILE.replace("\x00", "")  # a task may hold anything but NUL
RAW_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
TEXT_LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+ request_id=\S+ "
)


@dataclass
class LoggedApp:
    client: TestClient
    log_format: str
    stream: io.StringIO
    handler: logging.Handler

    def lines(self) -> list[str]:
        """The output split on the handler's terminator only: a forged line would show up as an extra one."""
        self.handler.flush()  # what the handler holds (access lines are written in batches) is part of the output
        output = self.stream.getvalue()
        assert output.endswith("\n")
        return output[:-1].split("\n")

    def records(self) -> list[dict[str, object]]:
        """Each line as a record; fails unless every line is one whole record of the configured format."""
        records: list[dict[str, object]] = []
        for line in self.lines():
            assert not RAW_UNSAFE.search(line), f"a raw control character reached the log: {line!r}"
            if self.log_format == "json":
                records.append(json.loads(line))
            else:
                assert TEXT_LINE.match(line), f"not the start of a record: {line!r}"
                records.append({"line": line})
        return records

    def access(self) -> list[dict[str, object]]:
        if self.log_format == "json":
            return [r for r in self.records() if "route" in r]
        return [r for r in self.records() if " backend.access " in str(r["line"])]


@pytest.fixture(params=["text", "json"])
def logged(request, worker_database_url, issuer) -> Iterator[LoggedApp]:
    """An app logging at DEBUG in the format, into a buffer through its own handler; the logging set-up the session's
    app made is restored afterwards."""
    logger = logging.getLogger("backend")
    saved = logger.handlers[:], logger.level
    settings = make_settings(
        worker_database_url, BETTER_AUTH_URL=issuer.base_url, TODO_LOG_FORMAT=request.param, TODO_LOG_LEVEL="DEBUG"
    )
    app = create_app(settings)
    app.add_api_route("/boom/{what}", _boom)  # a bug whose message carries request data
    stream = io.StringIO()
    handler = logger.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        with TestClient(app) as client:
            yield LoggedApp(client, request.param, stream, handler)
    finally:
        logger.handlers[:], level = saved
        logger.setLevel(level)


async def _boom(what: str) -> None:
    raise RuntimeError(f"cannot handle {what}")


def _field(record: dict[str, object], log_format: str) -> str:
    """What the access record says of the path: the JSON field, or the text line."""
    return str(record["path"] if log_format == "json" else record["line"])


@pytest.mark.req("OPS-LOG-INJECTION", "OPS-LOG-FORMAT")
@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_path_is_one_access_record_with_the_characters_escaped(logged, alice, name):
    raw, escaped = HOSTILE[name]
    response = logged.client.get(f"/api/{quote('x' + raw + 'forged')}/tasks", headers=alice.headers)

    assert response.status_code == 403
    [record] = logged.access()
    assert f"/api/x{escaped}forged/tasks" in _field(record, logged.log_format)
    if logged.log_format == "json":
        assert record["route"] == "/api/{user_id}/tasks"
        assert record["status"] == 403
        assert record["request_id"] == response.headers["x-request-id"]


@pytest.mark.req("OPS-LOG-INJECTION")
def test_hostile_queries_headers_token_subjects_and_bodies_never_reach_the_log_raw(logged, alice, issuer):
    hostile_sub = f"mallory{ALL_HOSTILE}"  # C0 in a sub is refused (401); the rest would be a user id
    printable_hostile_sub = "mallory\u2028\u2029\x85x"
    tokens = [alice.token, issuer.mint(hostile_sub), issuer.mint(printable_hostile_sub)]
    headers = {
        "User-Agent": f"agent{ALL_HOSTILE}".encode(),
        "X-Request-ID": f"id{ALL_HOSTILE}".encode(),
        "X-Forwarded-For": "1.2.3.4\r\nforged: yes",
        "Referer": "\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\",
    }
    sent = [
        logged.client.get(f"{alice.tasks_url()}?status={quote(ALL_HOSTILE)}&sort=x%0Ay", headers=alice.headers),
        logged.client.get(alice.tasks_url(), headers={**alice.headers, **headers}),
        logged.client.post(
            alice.tasks_url(), json={"title": f"t{STORABLE}", "description": STORABLE}, headers=alice.headers
        ),
        logged.client.post(alice.tasks_url(), json={"title": f"t{ALL_HOSTILE}"}, headers=alice.headers),
        logged.client.get(alice.tasks_url(), headers={"Authorization": f"Bearer {tokens[1]}"}),
        logged.client.get(
            f"/api/{quote(printable_hostile_sub)}/tasks", headers={"Authorization": f"Bearer {tokens[2]}"}
        ),
        logged.client.get(alice.tasks_url(), headers={"Authorization": f"Bearer {tokens[0]}x"}),
    ]

    assert [r.status_code for r in sent] == [422, 200, 201, 422, 401, 200, 401]
    records = logged.records()  # every line one whole record, none raw
    assert len(logged.access()) == len(sent)
    output = logged.stream.getvalue()
    assert not any(token in output for token in tokens), "token text reached the log"
    assert not any(token[: len(token) // 2] in output for token in tokens)
    assert len(records) >= len(sent)


@pytest.mark.req("OPS-LOG-INJECTION", "OPS-LOG-FORMAT")
def test_a_traceback_whose_message_carries_request_data_is_one_record(logged):
    response = logged.client.get(f"/boom/{quote('x' + ALL_HOSTILE + 'forged')}")

    assert response.status_code == 500
    records = logged.records()
    assert len(records) == 2  # the error with its traceback, and the access line
    error = records[0]
    if logged.log_format == "json":
        assert error["logger"] == "backend.errors"
        assert error["request_id"] == response.headers["x-request-id"]
        assert "RuntimeError: cannot handle x\\x0a\\x0d\\x00\\x1b[31m" in str(error["exc_info"])
    else:
        assert "Traceback (most recent call last):" in str(error["line"])
        assert "RuntimeError: cannot handle x\\x0a\\x0d\\x00\\x1b[31m" in str(error["line"])


@pytest.mark.req("OPS-LOG-FORMAT")
@pytest.mark.parametrize("logged", ["json"], indirect=True)
def test_json_records_carry_exactly_the_documented_fields(logged, alice):
    response = logged.client.get(alice.tasks_url(999), headers={**alice.headers, "X-Request-ID": "trace-42"})

    [record] = logged.access()
    assert set(record) == {"time", "level", "request_id", "method", "route", "path", "status", "duration_ms"}
    assert record["time"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(record["time"]))
    assert (record["level"], record["request_id"], record["method"]) == ("INFO", "trace-42", "GET")
    assert (record["route"], record["path"], record["status"]) == (
        "/api/{user_id}/tasks/{task_id}",
        alice.tasks_url(999),
        response.status_code,
    )
    assert isinstance(record["duration_ms"], float)
    assert record["duration_ms"] > 0


@pytest.mark.req("OPS-LOG-FORMAT")
@pytest.mark.parametrize("access_log", ["true", "false"])
def test_todo_access_log_false_drops_the_access_line(worker_database_url, issuer, alice, access_log):
    logger = logging.getLogger("backend")
    saved = logger.handlers[:], logger.level
    settings = make_settings(
        worker_database_url, BETTER_AUTH_URL=issuer.base_url, TODO_LOG_LEVEL="INFO", TODO_ACCESS_LOG=access_log
    )
    app = create_app(settings)
    stream = io.StringIO()
    logger.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    try:
        with TestClient(app) as client:
            assert client.get(alice.tasks_url(), headers=alice.headers).status_code == 200
            assert client.get("/nope").status_code == 404
    finally:
        logger.handlers[:], level = saved
        logger.setLevel(level)
    access_lines = [line for line in stream.getvalue().splitlines() if " backend.access " in line]
    assert len(access_lines) == (2 if access_log == "true" else 0)
