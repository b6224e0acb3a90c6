"""Leakage: no error carries a stack trace, SQL, exception name, secret or token. CORS answers only configured
origins. /docs, /redoc and /openapi.json disappear when switched off."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from harness import checks
from harness.checks import assert_no_leak, assert_problem
from harness.credentials import secret_minter
from harness.judgements import Watch
from harness.scenes import Victim, make_victim
from harness.users import ApiUser, new_user_id
from harness.verdicts import PASS, fail

LEAK_SECRET = "leak-canary-secret-0123456789abcdef0123456789"
ClientFactory = Callable[..., TestClient]


def _error_battery(client: httpx.Client, victim: Victim, stranger_headers: dict[str, str]) -> list[httpx.Response]:
    """One request per kind of error this API gives a caller (another implementation may serve some of them)."""
    own = victim.user.headers
    json_headers = {**own, "Content-Type": "application/json"}
    return [
        client.get(victim.user.tasks_url()),  # 401, no credentials
        client.get(victim.user.tasks_url(), headers={"Authorization": f"Bearer {victim.user.token}x"}),  # 401
        client.get(victim.user.tasks_url(), headers=stranger_headers),  # 403
        client.get(victim.user.tasks_url(2**62), headers=own),  # 404 task
        client.get("/api/no/such/route", headers=own),  # 404 route
        client.delete(victim.user.tasks_url(), headers=own),  # 405
        client.post(victim.user.tasks_url(), content=b"x" * (65 * 1024), headers=json_headers),  # 413
        client.post(victim.user.tasks_url(), content=b"title=x", headers={**own, "Content-Type": "text/plain"}),  # 415
        client.post(victim.user.tasks_url(), content=b'{"title": ""', headers=json_headers),  # 422 bad JSON
        client.post(victim.user.tasks_url(), json={"title": "", "x": 1}, headers=own),  # 422 fields
        client.get(victim.user.tasks_url(), params={"limit": "x", "cursor": "???"}, headers=own),  # 422 query
        client.get(victim.user.tasks_url("abc"), headers=own),  # 422 path
    ]


NOT_THE_OWNER = 3  # the first three requests are not the victim's own: they may show nothing of the victim's


def _judge_battery(judge, client: httpx.Client, victim: Victim, stranger: ApiUser, *secrets: str) -> None:
    watch = Watch.of(client, victim.user)
    responses = _error_battery(client, victim, stranger.headers)
    for number, response in enumerate(responses):
        judge.expect("ERR-NO-LEAK", checks.no_leak(response, victim.user.token, stranger.token, *secrets), response)
        judge.expect("ERR-NO-5XX", checks.no_server_error(response), response)
        if number < NOT_THE_OWNER:
            shown = checks.not_in_body(response, "the victim's task", *victim.private)
            judge.expect("ISO-MATRIX", shown, response)
    unchanged, readable = watch.after()
    judge.expect("ERR-NO-POISON", readable, responses[-1])
    judge.expect("ERR-REFUSAL-NO-EFFECT", unchanged, responses[-1])
    statuses = sorted({r.status_code for r in responses})
    expected = [401, 403, 404, 405, 413, 415, 422]
    judge.expect("ERR-PROBLEM-SHAPE", PASS if statuses == expected else fail(f"statuses {statuses}"), responses[0])
    for response in responses:
        judge.expect("ERR-PROBLEM-SHAPE", checks.problem(response, response.status_code), response)


@pytest.mark.req(
    "ERR-NO-LEAK", "ERR-NO-5XX", "ERR-NO-POISON", "ERR-REFUSAL-NO-EFFECT", "ISO-MATRIX", "ERR-PROBLEM-SHAPE"
)
def test_no_error_response_leaks_internals_or_tokens(client: httpx.Client, judge, victim: Victim, make_user):
    _judge_battery(judge, client, victim, make_user("stranger"))


@pytest.mark.inprocess
@pytest.mark.req("ERR-NO-LEAK", "AUTH-SECRET")
def test_secret_mode_errors_never_contain_the_secret(judge, build_client: ClientFactory):
    client = build_client(BETTER_AUTH_SECRET=LEAK_SECRET)
    minter = secret_minter(LEAK_SECRET)
    victim_id, stranger_id = new_user_id("leak"), new_user_id("stranger")
    victim = make_victim(client, ApiUser(victim_id, minter.mint(victim_id)))
    _judge_battery(judge, client, victim, ApiUser(stranger_id, minter.mint(stranger_id)), LEAK_SECRET)


def _bug_that_quotes_secrets() -> None:
    raise RuntimeError(f"SELECT password FROM users WHERE secret = '{LEAK_SECRET}'")  # noqa: S608 - bait text


async def _bad_sql(request: Request) -> None:
    async with request.app.state.pool.connection() as connection:
        await connection.execute(f"SELECT no_such_column FROM tasks WHERE title = '{LEAK_SECRET}'")  # noqa: S608


@pytest.mark.inprocess
@pytest.mark.req("ERR-NO-LEAK", "ERR-PROBLEM-SHAPE")
@pytest.mark.parametrize("endpoint", [_bug_that_quotes_secrets, _bad_sql], ids=["exception", "sql-error"])
def test_unexpected_failure_is_a_bare_500_problem(build_client: ClientFactory, endpoint: Callable[..., None]):
    client = build_client()
    client.app.add_api_route("/boom", endpoint, methods=["GET"])  # type: ignore[attr-defined]
    response = client.get("/boom")
    body = assert_problem(response, 500)
    assert body["type"] == "urn:todo-api:problem:internal-error"
    assert_no_leak(response, LEAK_SECRET, "no_such_column", "RuntimeError", "ProgrammingError", "UndefinedColumn")


ALLOWED_ORIGIN = "https://app.example"


@pytest.fixture
def cors_client(build_client: ClientFactory) -> TestClient:
    return build_client(TODO_CORS_ORIGINS=ALLOWED_ORIGIN)


def _preflight(client: httpx.Client, origin: str, path: str = "/api/someone/tasks") -> httpx.Response:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


@pytest.mark.inprocess
@pytest.mark.req("ISO-CORS")
def test_preflight_from_the_configured_origin_is_allowed(cors_client: TestClient):
    response = _preflight(cors_client, ALLOWED_ORIGIN)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


@pytest.mark.inprocess
@pytest.mark.req("ISO-CORS", "API-IF-MATCH", "API-IDEMPOTENT-CREATE")
def test_a_frontend_on_the_configured_origin_may_send_preconditions_and_keys_and_read_the_etag(
    cors_client: TestClient, make_user
):
    headers = "authorization, content-type, if-match, if-none-match, idempotency-key"
    preflight = cors_client.options(
        "/api/someone/tasks/1",
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": headers,
        },
    )
    user = make_user("cors")
    created = cors_client.post(
        user.tasks_url(), json={"title": "x"}, headers={**user.headers, "Origin": ALLOWED_ORIGIN}
    )

    assert preflight.status_code == 200
    allowed = {name.strip().lower() for name in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"if-match", "if-none-match", "idempotency-key"} <= allowed
    exposed = {name.strip().lower() for name in created.headers["access-control-expose-headers"].split(",")}
    assert {"etag", "location"} <= exposed


@pytest.mark.inprocess
@pytest.mark.req("ISO-CORS")
@pytest.mark.parametrize(
    "origin", ["https://evil.example", "https://app.example.evil.example", "http://app.example", "null"]
)
def test_preflight_from_any_other_origin_is_refused(cors_client: TestClient, origin: str):
    response = _preflight(cors_client, origin)
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.inprocess
@pytest.mark.req("ISO-CORS")
def test_actual_request_from_another_origin_gets_no_cors_grant(cors_client: TestClient, make_user):
    user = make_user("cors")
    allowed = cors_client.get(user.tasks_url(), headers={**user.headers, "Origin": ALLOWED_ORIGIN})
    evil = cors_client.get(user.tasks_url(), headers={**user.headers, "Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "access-control-allow-origin" not in evil.headers
    assert "access-control-allow-credentials" not in evil.headers


@pytest.mark.inprocess
@pytest.mark.req("ISO-CORS")
def test_without_configured_origins_no_origin_is_granted(build_client: ClientFactory):
    response = _preflight(build_client(), ALLOWED_ORIGIN)
    assert "access-control-allow-origin" not in response.headers
    assert response.status_code == 405


DOC_PATHS = ["/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"]


@pytest.mark.inprocess
@pytest.mark.req("OPS-DOCS-TOGGLE")
@pytest.mark.parametrize("path", DOC_PATHS)
def test_docs_are_gone_when_switched_off(build_client: ClientFactory, path: str):
    client = build_client(TODO_DOCS_ENABLED="false")
    assert_problem(client.get(path), 404)
    assert client.get("/healthz").status_code == 200
