"""The one set of response checks. Each returns a Verdict (harness/verdicts.py), so a test can record it against a
requirement with `judge.expect(REQ, check(...), response)`; `require` turns a verdict into a plain assertion for
tests that judge a single requirement.

Security checks are contract-neutral (any 2xx is a success, any 4xx that changed nothing is a refusal); the
reference checks (`problem`, `challenge`, `status`) pin this backend's own choices.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

import httpx

from harness.verdicts import PASS, Verdict, all_of, fail

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:todo-api:problem:"
PROBLEM_KEYS = ("type", "title", "status", "detail", "instance")
REALM_ONLY = re.compile(r'Bearer realm="[^"]+"')
INVALID_TOKEN = re.compile(r'Bearer realm="[^"]+", error="invalid_token", error_description="[^"]+"')

# What a leaking error handler puts in a response: tracebacks, SQL, driver, framework or exception names.
_LEAK_PATTERNS = (
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r'File "[^"]+", line \d+'),
    re.compile(r"\.py\b"),
    re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM)\b.*\b(FROM|tasks|users|SET|VALUES)\b", re.DOTALL),
    re.compile(r"sqlalchemy|psycopg|asyncpg|pydantic_core|starlette\.|fastapi\.|jwt\.exceptions|cryptography", re.I),
    re.compile(r"\b[A-Z][A-Za-z]+(Error|Exception)\b"),
    re.compile(r"\bbackend\.[a-z_]+"),
)
MIN_SECRET_CHARS = 6  # shorter fragments (a 3-byte signature, an empty segment) match by chance


def describe(response: httpx.Response) -> str:
    return f"{response.request.method} {response.request.url.path} answered {response.status_code}"


def _text(response: httpx.Response) -> str:
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    return f"{headers}\n\n{response.text}"


def token_fragments(token: str) -> list[str]:
    """The token and its header and signature segments: none may come back in a response."""
    parts = token.split(".")
    return [token, parts[0], parts[-1]] if len(parts) >= 2 else [token]


# --- security: contract-neutral ---


def no_leak(response: httpx.Response, *secrets: str | None) -> Verdict:
    """No traceback, SQL, exception name, nor any of `secrets` (token text, keys) in the headers or body."""
    text = _text(response)
    for pattern in _LEAK_PATTERNS:
        match = pattern.search(text)
        if match:
            return fail(f"{describe(response)} and its response shows {match.group(0)!r}")
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_CHARS and secret in text:
            return fail(f"{describe(response)} and its response echoes credential text ({len(secret)} characters)")
    return PASS


def no_token_echo(response: httpx.Response, token: str | None) -> Verdict:
    """The token sent in the Authorization header does not come back, in whole or in part."""
    return no_leak(response, *token_fragments(token)) if token else no_leak(response)


def success(response: httpx.Response) -> Verdict:
    return PASS if response.is_success else fail(f"{describe(response)}, not a 2xx: {response.text[:200]}")


def not_accepted(response: httpx.Response, what: str) -> Verdict:
    """A request that must be refused got no 2xx (the status class is judged elsewhere)."""
    return fail(f"{what} was accepted: {describe(response)}") if response.is_success else PASS


def no_server_error(response: httpx.Response) -> Verdict:
    return fail(f"{describe(response)}: a server error") if response.status_code >= 500 else PASS


def not_in_body(response: httpx.Response, what: str, *values: str | None) -> Verdict:
    """None of `values` (another user's data) appears in the response."""
    text = response.text
    shown = [v for v in values if v and len(v) >= MIN_SECRET_CHARS and v in text]
    return fail(f"{describe(response)} and its response shows {what}") if shown else PASS


def shows(response: httpx.Response, task: dict[str, Any]) -> Verdict:
    """The response is this task (same id and title), as a read of it should be."""
    body = _json(response)
    same = isinstance(body, dict) and str(body.get("id")) == str(task.get("id")) and body.get("title") == task["title"]
    return (
        PASS if same else fail(f"{describe(response)} but does not show task {task.get('id')}: {response.text[:200]}")
    )


# --- seed: status classes ---


def status_in(response: httpx.Response, allowed: Iterable[int], what: str = "") -> Verdict:
    allowed = tuple(allowed)
    if response.status_code in allowed:
        return PASS
    expected = " or ".join(str(s) for s in allowed)
    return fail(f"{what or describe(response)}: expected {expected}, got {response.status_code}: {response.text[:200]}")


def client_error(response: httpx.Response) -> Verdict:
    ok = 400 <= response.status_code < 500
    return PASS if ok else fail(f"{describe(response)}, not a 4xx: {response.text[:200]}")


# --- reference: this backend's exact answers ---


def status(response: httpx.Response, expected: int) -> Verdict:
    return status_in(response, (expected,))


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


# RFC 9110 §15 reason phrases where Python before 3.13 still has the older ones.
_RFC9110_PHRASES = {413: "Content Too Large", 422: "Unprocessable Content"}


def reason_phrase(status_code: int) -> str:
    """The status's RFC 9110 reason phrase: a problem's `title`, whichever Python runs the harness."""
    return _RFC9110_PHRASES.get(status_code) or HTTPStatus(status_code).phrase


def problem(response: httpx.Response, status_code: int, slug: str | None = None) -> Verdict:
    """RFC 9457 problem details for `status_code`, tied to its request by instance and request_id."""
    body = _json(response)
    if response.status_code != status_code:
        return fail(f"{describe(response)}, expected {status_code}: {response.text[:200]}")
    if not response.headers.get("content-type", "").startswith(PROBLEM_MEDIA_TYPE):
        return fail(f"{describe(response)} with content-type {response.headers.get('content-type')!r}")
    if not isinstance(body, dict):
        return fail(f"{describe(response)} with a body that is not a JSON object")
    missing = [name for name in PROBLEM_KEYS if not body.get(name)]
    request_id = response.headers.get("x-request-id")
    return all_of(
        fail(f"the problem body lacks {missing}: {body}") if missing else PASS,
        PASS if body.get("status") == status_code else fail(f"problem status {body.get('status')} != {status_code}"),
        PASS if body.get("title") == reason_phrase(status_code) else fail(f"problem title {body.get('title')!r}"),
        PASS
        if str(body.get("type", "")).startswith(PROBLEM_TYPE_PREFIX)
        and (slug is None or body.get("type") == PROBLEM_TYPE_PREFIX + slug)
        else fail(f"problem type {body.get('type')!r}, expected {PROBLEM_TYPE_PREFIX}{slug or '...'}"),
        PASS
        if body.get("instance") == response.request.url.path
        else fail(f"problem instance {body.get('instance')!r}"),
        PASS if request_id and body.get("request_id") == request_id else fail("request_id differs from X-Request-ID"),
    )


def challenge(response: httpx.Response, pattern: re.Pattern[str]) -> Verdict:
    value = response.headers.get("www-authenticate", "")
    return PASS if pattern.fullmatch(value) else fail(f"WWW-Authenticate {value!r} !~ {pattern.pattern}")


def request_id(response: httpx.Response) -> Verdict:
    return PASS if response.headers.get("x-request-id") else fail(f"{describe(response)} without X-Request-ID")


def json_content(response: httpx.Response) -> Verdict:
    kind = response.headers.get("content-type", "")
    return PASS if kind.startswith("application/json") else fail(f"{describe(response)} as {kind!r}, not JSON")


def unauthorized(response: httpx.Response, pattern: re.Pattern[str] = INVALID_TOKEN) -> Verdict:
    """This backend's 401: problem type unauthorized and the RFC 6750 challenge `pattern`."""
    return all_of(problem(response, 401, "unauthorized"), challenge(response, pattern))


def field_errors(response: httpx.Response) -> set[str]:
    """The `field` of every entry in a 422's `errors` list (empty when there is none)."""
    body = _json(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    return {str(error.get("field")) for error in errors or () if isinstance(error, dict)}


# --- plain assertions, for tests that judge one requirement ---


def require(verdict: Verdict) -> None:
    assert verdict.ok, verdict.message


def assert_problem(response: httpx.Response, status_code: int, slug: str | None = None) -> dict[str, Any]:
    """The response is this backend's problem+json for `status_code`; returns the body."""
    require(problem(response, status_code, slug))
    body: dict[str, Any] = response.json()
    return body


def error_fields(response: httpx.Response) -> set[str]:
    """The failing fields a 422 names; each error entry has exactly field, message and code."""
    body = assert_problem(response, 422, "validation-error")
    for error in body["errors"]:
        assert error.keys() == {"field", "message", "code"}, error
    return field_errors(response)


def assert_refused(response: httpx.Response, token: str | None, pattern: re.Pattern[str] = INVALID_TOKEN) -> None:
    """This backend's 401 with the challenge `pattern`, and nothing of the token echoed back."""
    require(unauthorized(response, pattern))
    require(no_token_echo(response, token))


def assert_no_leak(response: httpx.Response, *secrets: str | None) -> None:
    require(no_leak(response, *secrets))


def assert_never_5xx(responses: Iterable[httpx.Response]) -> None:
    for response in responses:
        require(no_server_error(response))
