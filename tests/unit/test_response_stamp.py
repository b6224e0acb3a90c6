"""The middleware's one pass over a response's raw headers (`_stamp`) leaves what Starlette's MutableHeaders would:
X-Request-ID, nosniff and the cache policy set once each, an existing Vary extended on private answers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import MutableHeaders
from starlette.types import Message

from backend.middleware import _stamp

NAMES = st.sampled_from(
    [
        b"content-type",
        b"etag",
        b"vary",
        b"cache-control",
        b"x-request-id",
        b"x-content-type-options",
        b"content-security-policy",
        b"x-frame-options",
    ]
)
HEADERS = st.lists(st.tuples(NAMES, st.sampled_from([b"Origin", b"a", b"Accept-Encoding"])), max_size=6)


def _as_mutable_headers_would(message: Message, request_id: str, path: str) -> None:
    headers = MutableHeaders(scope=message)
    headers["x-request-id"] = request_id
    headers["x-content-type-options"] = "nosniff"
    headers["content-security-policy"] = "frame-ancestors 'none'"
    headers["x-frame-options"] = "DENY"
    if message["status"] < 400 and path.startswith("/api/"):
        headers["cache-control"] = "private, no-cache"
        headers.add_vary_header("Authorization")
    else:
        headers["cache-control"] = "no-store"


@pytest.mark.req("API-CACHE-HEADERS", "API-NO-FRAMING", "ERR-REQUEST-ID")
@given(
    headers=HEADERS,
    status=st.sampled_from([200, 201, 304, 401, 404, 500]),
    path=st.sampled_from(["/api/u/tasks", "/healthz", "/docs"]),
)
def test_stamped_headers_are_those_mutable_headers_would_set(
    headers: list[tuple[bytes, bytes]], status: int, path: str
) -> None:
    stamped: Message = {"type": "http.response.start", "status": status, "headers": list(headers)}
    expected: Message = {"type": "http.response.start", "status": status, "headers": list(headers)}
    _stamp(stamped, "rid-1", path)
    _as_mutable_headers_would(expected, "rid-1", path)
    assert sorted(stamped["headers"]) == sorted(expected["headers"])


@pytest.mark.req("API-CACHE-HEADERS")
def test_a_private_answer_extends_an_existing_vary() -> None:
    message: Message = {"type": "http.response.start", "status": 200, "headers": [(b"vary", b"Origin")]}
    _stamp(message, "rid-1", "/api/u/tasks")
    assert (b"vary", b"Origin, Authorization") in message["headers"]
