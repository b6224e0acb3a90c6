"""The RFC 6750 challenge, exactly: realm from TODO_AUTH_REALM, error and description only when a token was sent."""

from __future__ import annotations

import pytest


@pytest.mark.req("ERR-401")
def test_no_credentials_get_a_bare_challenge_naming_the_realm(client, alice):
    response = client.get(alice.tasks_url())
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="todo-api"'
    assert response.json()["detail"] == "Authentication required: send a bearer token."


@pytest.mark.req("ERR-401", "ERR-401-REASON")
def test_a_refused_token_gets_invalid_token_with_a_short_reason(client, minter, alice):
    # The minter signs as the server under test trusts (EdDSA, or HS256 against a secret-mode target).
    expired = minter.mint(alice.id, iat=1_000_000_000, exp=1_000_000_900)
    response = client.get(alice.tasks_url(), headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer realm="todo-api", error="invalid_token", error_description="token expired"'
    )
    assert response.json()["detail"] == "Invalid token: token expired."


@pytest.mark.req("ERR-401", "ERR-401-REASON", "AUTH-HEADER-PARSING")
def test_a_malformed_authorization_header_gets_invalid_token_naming_the_header(client, alice):
    response = client.get(alice.tasks_url(), headers={"Authorization": "Bearer two tokens"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer realm="todo-api", error="invalid_token", error_description="malformed authorization header"'
    )
    assert response.json()["detail"] == "Invalid token: malformed authorization header."


@pytest.mark.inprocess
@pytest.mark.req("ERR-401")
def test_the_realm_comes_from_todo_api_realm(build_client, issuer, alice):
    client = build_client(BETTER_AUTH_URL=issuer.base_url, TODO_AUTH_REALM="tasks.example")
    assert client.get(alice.tasks_url()).headers["www-authenticate"] == 'Bearer realm="tasks.example"'
