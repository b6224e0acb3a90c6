"""The backend against a real Better Auth server (npm, JWT plugin, pg adapter) on the same database."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import Engine, text

from harness import better_auth
from harness.better_auth_server import BetterAuthServer
from harness.users import create_task, list_all

LEAK_MARKERS = ("Traceback", "psycopg", "sqlalchemy", "SELECT ", "jwt.exceptions", "Error:")


def assert_nothing_leaked(response: httpx.Response, *secrets: str) -> None:
    for marker in (*LEAK_MARKERS, *secrets):
        assert marker not in response.text


@pytest.mark.req("AUTH-BETTER-AUTH", "AUTH-JWKS")
def test_sign_up_sign_in_and_token_from_better_auth_are_accepted(better_auth_server, api):
    account = better_auth.new_account("fresh")
    with better_auth.Browser(better_auth_server.base_url) as browser:
        signed_up_id = browser.sign_up(account)
    with better_auth.Browser(better_auth_server.base_url) as browser:
        assert browser.sign_in(account) == signed_up_id
        token = browser.token()

    header, claims = jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "EdDSA"
    assert header["kid"] in better_auth_server.jwks_kids()
    assert (claims["sub"], claims["iss"], claims["aud"]) == (signed_up_id, *[better_auth_server.base_url] * 2)
    response = api.get(f"/api/{signed_up_id}/tasks", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.req("AUTH-BETTER-AUTH", "API-CREATE", "API-GET", "API-LIST", "API-REPLACE", "API-TOGGLE", "API-DELETE")
def test_every_route_works_with_a_better_auth_token(api, ba_alice):
    created = create_task(api, ba_alice, "Buy milk", description="2 litres")
    url = ba_alice.tasks_url(created["id"])

    assert api.get(url, headers=ba_alice.headers).json() == created
    assert [task["id"] for task in list_all(api, ba_alice)] == [created["id"]]
    replaced = api.put(url, json={"title": "Buy oat milk"}, headers=ba_alice.headers)
    assert replaced.status_code == 200
    assert (replaced.json()["title"], replaced.json()["description"]) == ("Buy oat milk", None)
    toggled = api.patch(ba_alice.tasks_url(created["id"], "/complete"), headers=ba_alice.headers)
    assert (toggled.status_code, toggled.json()["completed"]) == (200, True)
    assert api.delete(url, headers=ba_alice.headers).status_code == 204
    assert api.get(url, headers=ba_alice.headers).status_code == 404
    assert list_all(api, ba_alice) == []


@pytest.mark.req("AUTH-BETTER-AUTH")
def test_better_auth_tables_and_ours_share_one_database(interop_engine: Engine, ba_alice):
    with interop_engine.connect() as connection:
        tables = set(connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
        registered = connection.execute(text('SELECT count(*) FROM "user" WHERE id = :id'), {"id": ba_alice.id})
        assert registered.scalar_one() == 1
    assert {"user", "session", "account", "verification", "jwks"} <= tables, "Better Auth's migration"
    assert {"users", "tasks", "alembic_version"} <= tables, "our migration"


# (method, whose path the intruder uses, targets the task?, path suffix, body, expected status)
Attempt = tuple[str, str, bool, str, dict[str, Any] | None, int]
CROSS_USER: dict[str, Attempt] = {
    "list victim path": ("GET", "victim", False, "", None, 403),
    "create on victim path": ("POST", "victim", False, "", {"title": "x"}, 403),
    "read victim path": ("GET", "victim", True, "", None, 403),
    "replace victim path": ("PUT", "victim", True, "", {"title": "x"}, 403),
    "toggle victim path": ("PATCH", "victim", True, "/complete", None, 403),
    "delete victim path": ("DELETE", "victim", True, "", None, 403),
    "read id via own path": ("GET", "own", True, "", None, 404),
    "replace id via own path": ("PUT", "own", True, "", {"title": "x"}, 404),
    "toggle id via own path": ("PATCH", "own", True, "/complete", None, 404),
    "delete id via own path": ("DELETE", "own", True, "", None, 404),
}


@pytest.mark.req("AUTH-BETTER-AUTH", "ISO-MATRIX")
@pytest.mark.parametrize("attempt", CROSS_USER.values(), ids=CROSS_USER.keys())
def test_two_better_auth_users_cannot_reach_each_others_tasks(api, ba_alice, ba_bob, attempt: Attempt):
    method, whose, targets_task, suffix, body, status = attempt
    task = create_task(api, ba_alice, "alice's secret plan", description="for alice only")
    path_owner = ba_alice if whose == "victim" else ba_bob
    url = path_owner.tasks_url(task["id"], suffix) if targets_task else path_owner.tasks_url()

    response = api.request(method, url, json=body, headers=ba_bob.headers)

    assert response.status_code == status
    assert_nothing_leaked(response, ba_bob.token, "secret plan")
    assert api.get(ba_alice.tasks_url(task["id"]), headers=ba_alice.headers).json() == task
    assert list_all(api, ba_bob) == []


def _expire_current_signing_key(engine: Engine) -> None:
    """What Better Auth's rotationInterval does when it elapses: the current key expires, the next token is
    signed by a new key, and the old key stays published for the grace period."""
    with engine.begin() as connection:
        connection.execute(text("""UPDATE jwks SET "expiresAt" = now() - interval '1 s' WHERE "expiresAt" > now()"""))


@pytest.mark.req("AUTH-BETTER-AUTH", "AUTH-JWKS-ROTATION")
def test_better_auth_key_rotation_is_picked_up_without_restart(better_auth_server, api, interop_engine):
    account = better_auth.new_account("rotating")
    with better_auth.Browser(better_auth_server.base_url) as browser:
        user_id = browser.sign_up(account)
        before = browser.token()
        assert api.get(f"/api/{user_id}/tasks", headers={"Authorization": f"Bearer {before}"}).status_code == 200

        _expire_current_signing_key(interop_engine)
        after = browser.token()

    assert better_auth.kid_of(after) != better_auth.kid_of(before)
    assert {better_auth.kid_of(before), better_auth.kid_of(after)} <= better_auth_server.jwks_kids()
    # The unknown-kid refetch is rate limited: wait out the cooldown.
    time.sleep(api.app.state.settings.jwks_refetch_cooldown_seconds)
    for token in (after, before):  # the new key is fetched; the old one, still published, keeps working
        assert api.get(f"/api/{user_id}/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.req("AUTH-BETTER-AUTH", "AUTH-SIGNATURE", "ERR-401")
def test_token_from_another_better_auth_instance_is_refused(
    foreign_better_auth: BetterAuthServer, better_auth_server: BetterAuthServer, api, interop_engine: Engine
):
    intruder = better_auth.registered_user(foreign_better_auth.base_url, "foreign")
    claims: dict[str, Any] = jwt.decode(intruder.token, options={"verify_signature": False})
    assert claims["iss"] == better_auth_server.base_url, "the foreign instance claims our issuer: only keys differ"
    assert better_auth.kid_of(intruder.token) not in better_auth_server.jwks_kids()

    response = api.post(intruder.tasks_url(), json={"title": "planted"}, headers=intruder.headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="todo-api", error="invalid_token"')
    assert_nothing_leaked(response, intruder.token)
    with interop_engine.connect() as connection:
        created = connection.execute(text("SELECT count(*) FROM users WHERE id = :id"), {"id": intruder.id})
        assert created.scalar_one() == 0
