"""Assertions shared by the security tests: refusals, RFC 6750 challenges, and "nothing leaked"."""

from __future__ import annotations

import re
from collections.abc import Iterable

import httpx

REALM_ONLY = re.compile(r'Bearer realm="[^"]*"')
INVALID_TOKEN = re.compile(r'Bearer realm="[^"]*", error="invalid_token"(, error_description="[^"]*")?')
PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}

# What a leaking error handler would put in a response: tracebacks, SQL, driver or exception names.
_LEAK_PATTERNS = (
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r'File "[^"]+", line \d+'),
    re.compile(r"\.py\b"),
    re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM)\b.*\b(FROM|tasks|users|SET|VALUES)\b", re.DOTALL),
    re.compile(r"sqlalchemy|psycopg|pydantic_core|starlette\.|fastapi\.|jwt\.exceptions|cryptography", re.I),
    re.compile(r"\b[A-Z][A-Za-z]+(Error|Exception)\b"),
    re.compile(r"\bbackend\.[a-z_]+"),
)
MIN_SECRET_CHARS = 6  # shorter fragments (a 3-byte signature, an empty segment) match by chance


def response_text(response: httpx.Response) -> str:
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    return f"{headers}\n\n{response.text}"


def assert_no_leak(response: httpx.Response, *secrets: str | None) -> None:
    """No traceback, SQL, exception name or any of `secrets` (token text, keys, passwords) in headers or body."""
    text = response_text(response)
    for pattern in _LEAK_PATTERNS:
        match = pattern.search(text)
        assert match is None, f"response leaks {match.group(0)!r}:\n{text}"
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_CHARS:
            assert secret not in text, f"response echoes secret material {secret[:24]!r}...:\n{text}"


def token_fragments(token: str) -> list[str]:
    """The token and its header and signature segments: none may come back in a response."""
    parts = token.split(".")
    fragments = [token]
    if len(parts) >= 2:
        fragments += [parts[0], parts[-1]]
    return fragments


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, object] = response.json()
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == status
    return body


def assert_refused(
    response: httpx.Response, token: str | None = None, *, challenge: re.Pattern[str] = INVALID_TOKEN
) -> None:
    """401 problem details, the given RFC 6750 challenge, and nothing of the token echoed back."""
    assert_problem(response, 401)
    assert challenge.fullmatch(response.headers.get("www-authenticate", "")), response.headers
    assert_no_leak(response, *(token_fragments(token) if token else ()))


def assert_never_5xx(responses: Iterable[httpx.Response]) -> None:
    for response in responses:
        assert response.status_code < 500, f"{response.request.method} {response.request.url}: {response.text}"
