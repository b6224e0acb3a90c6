"""The benchmark's reference server (loadtests/reference_server.py) does the app's work on the benchmarked routes:
the same JSON and ETag for the same task and token, and the same refusals of a token that is not the path's user's.
Otherwise the bench's "% of the reference" would compare unlike things."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import httpx
import pytest

from backend.app import create_app
from harness.inprocess import make_settings
from harness.issuer import SigningKey, TokenIssuer
from harness.net import LiveServer, free_port, serving
from harness.users import new_user_id

pytestmark = pytest.mark.inprocess


@pytest.fixture
def servers(worker_database_url: str, issuer: TokenIssuer) -> Iterator[tuple[str, str]]:
    """The app and the reference server, trusting the same issuer, on the same database."""
    app = create_app(make_settings(worker_database_url, BETTER_AUTH_URL=issuer.base_url))
    port = free_port()
    command = [sys.executable, "-m", "loadtests.reference_server", "--port", str(port)]
    command += ["--database-url", worker_database_url, "--jwks-url", issuer.jwks_url, "--issuer", issuer.base_url]
    with LiveServer(app) as live, serving(command, port, ready_path="/healthz") as reference:
        yield live.url, reference


@pytest.mark.req("LOAD-BENCH-REFERENCE")
def test_the_reference_answers_the_apps_bytes_and_etag_for_the_same_task_and_token(
    servers: tuple[str, str], issuer: TokenIssuer
) -> None:
    app, reference = servers
    user = new_user_id("ref")
    auth = {"Authorization": f"Bearer {issuer.mint(user)}"}
    for title in ("first", "second"):
        httpx.post(f"{app}/api/{user}/tasks", json={"title": title}, headers=auth).raise_for_status()
    tasks = f"/api/{user}/tasks"
    ours, theirs = httpx.get(app + tasks, headers=auth), httpx.get(reference + tasks, headers=auth)
    assert (theirs.status_code, theirs.content, theirs.headers["etag"]) == (200, ours.content, ours.headers["etag"])
    one = f"{tasks}/{ours.json()[0]['id']}"
    ours, theirs = httpx.get(app + one, headers=auth), httpx.get(reference + one, headers=auth)
    assert (theirs.status_code, theirs.content, theirs.headers["etag"]) == (200, ours.content, ours.headers["etag"])
    assert theirs.headers["content-type"] == ours.headers["content-type"] == "application/json"

    toggled = httpx.patch(f"{reference}{one}/complete", headers=auth)  # the app reads what the reference changed
    assert toggled.status_code == 200
    assert toggled.json()["completed"] is True
    assert (toggled.content, toggled.headers["etag"]) == (httpx.get(app + one, headers=auth).content, '"2"')

    created = httpx.post(f"{reference}{tasks}", content=b'{"title": "  third  "}', headers=auth)
    assert created.status_code == 201
    assert created.json()["title"] == "third"
    ours = httpx.get(f"{app}{created.headers['location']}", headers=auth)
    assert (ours.content, ours.headers["etag"]) == (created.content, created.headers["etag"])


@pytest.mark.req("LOAD-BENCH-REFERENCE")
def test_the_reference_refuses_what_the_app_refuses(servers: tuple[str, str], issuer: TokenIssuer) -> None:
    app, reference = servers
    owner, other = new_user_id("ref-owner"), new_user_id("ref-other")
    auth = {"Authorization": f"Bearer {issuer.mint(owner)}"}
    created = httpx.post(f"{app}/api/{owner}/tasks", json={"title": "mine"}, headers=auth).raise_for_status()
    path = f"/api/{owner}/tasks/{created.json()['id']}"
    unknown_key = issuer.mint(owner, key=SigningKey(kid="not-published"))
    refusals = {
        "another user's token": ({"Authorization": f"Bearer {issuer.mint(other)}"}, 403),
        "a key the JWKS does not publish": ({"Authorization": f"Bearer {unknown_key}"}, 401),
        "an expired token": ({"Authorization": f"Bearer {issuer.mint(owner, ttl=-600)}"}, 401),
        "no token": ({}, 401),
    }
    for case, (headers, status) in refusals.items():
        answers = (httpx.get(app + path, headers=headers).status_code, httpx.get(reference + path, headers=headers))
        assert answers[0] == answers[1].status_code == status, case
        assert answers[1].content == b"", case  # a bare status: refusals are not what the reference measures
