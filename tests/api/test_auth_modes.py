"""The three auth modes end to end: JWKS (with its overrides), HS256 shared secret, and dev mode."""

from __future__ import annotations

import time

import jwt
import pytest
from pydantic import ValidationError

from backend import cli
from backend.auth.dev_keys import load_or_create_dev_key, mint_dev_token
from backend.settings import AuthMode
from harness.checks import assert_problem
from harness.credentials import secret_minter
from harness.inprocess import make_settings
from harness.users import new_user_id
from harness.verdicts import could_not_run

SECRET = "s3cret-" * 6  # 42 bytes
AUTH_ENV = ("BETTER_AUTH_URL", "BETTER_AUTH_SECRET", "JWT_JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE", "JWT_ALGORITHMS")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _hs256(sub: str, secret: str = SECRET, **claims: object) -> str:
    return secret_minter(secret).mint(sub, ttl=300, **claims)


def _assert_accepted(client, user_id: str, token: str) -> None:
    created = client.post(f"/api/{user_id}/tasks", json={"title": "mine"}, headers=_bearer(token))
    assert created.status_code == 201, created.text
    listed = client.get(f"/api/{user_id}/tasks", headers=_bearer(token))
    assert [task["id"] for task in listed.json()] == [created.json()["id"]]


def _assert_refused(client, user_id: str, token: str) -> None:
    response = client.get(f"/api/{user_id}/tasks", headers=_bearer(token))
    assert_problem(response, 401, "unauthorized")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.req("AUTH-JWKS")
def test_jwks_mode_accepts_a_token_signed_by_the_issuer(client, issuer, minter):
    if minter.trusted_kid != issuer.current_key.kid:
        could_not_run("the target does not trust the harness's JWKS issuer")
    user_id = new_user_id("jwks")
    _assert_accepted(client, user_id, issuer.mint(user_id))
    assert "/api/auth/jwks" in issuer.requests


@pytest.fixture
def overridden(client_for, worker_database_url, issuer):
    """JWKS mode whose BETTER_AUTH_URL points nowhere: keys, issuer and audience all come from the overrides."""
    settings = make_settings(
        worker_database_url,
        BETTER_AUTH_URL="http://127.0.0.1:9",
        JWT_JWKS_URL=issuer.jwks_url,
        JWT_ISSUER="https://issuer.example",
        JWT_AUDIENCE="todo-api",
    )
    return client_for(settings)


@pytest.mark.req("AUTH-JWKS", "AUTH-ISS-AUD")
def test_jwt_jwks_url_issuer_and_audience_overrides_are_honoured(overridden, issuer):
    user_id = new_user_id("override")
    _assert_accepted(overridden, user_id, issuer.mint(user_id, iss="https://issuer.example", aud="todo-api"))


@pytest.mark.req("AUTH-ISS-AUD")
@pytest.mark.parametrize(
    "claims",
    [{}, {"iss": "https://issuer.example"}, {"aud": "todo-api"}],
    ids=["defaults", "only iss overridden", "only aud overridden"],
)
def test_with_overrides_the_default_issuer_or_audience_is_refused(overridden, issuer, claims):
    user_id = new_user_id("override")
    _assert_refused(overridden, user_id, issuer.mint(user_id, **claims))


@pytest.fixture
def secret_client(client_for, worker_database_url):
    return client_for(make_settings(worker_database_url, BETTER_AUTH_SECRET=SECRET))


@pytest.mark.req("AUTH-SECRET")
def test_secret_mode_accepts_a_valid_hs256_token(secret_client):
    user_id = new_user_id("hs")
    _assert_accepted(secret_client, user_id, _hs256(user_id))


@pytest.mark.req("AUTH-SECRET", "AUTH-ALG-ALLOWLIST")
def test_secret_mode_refuses_an_eddsa_token(secret_client, issuer):
    user_id = new_user_id("hs")
    _assert_refused(secret_client, user_id, issuer.mint(user_id))


@pytest.mark.req("AUTH-SECRET", "AUTH-SIGNATURE")
def test_secret_mode_refuses_a_token_signed_with_another_secret(secret_client):
    user_id = new_user_id("hs")
    _assert_refused(secret_client, user_id, _hs256(user_id, secret="another-secret-of-enough-length-" * 2))


@pytest.mark.req("AUTH-SECRET", "AUTH-ISS-AUD")
def test_secret_mode_checks_iss_and_aud_when_configured(client_for, worker_database_url):
    client = client_for(
        make_settings(
            worker_database_url, BETTER_AUTH_SECRET=SECRET, JWT_ISSUER="https://a.example", JWT_AUDIENCE="api"
        )
    )
    user_id = new_user_id("hs")
    _assert_accepted(client, user_id, _hs256(user_id, iss="https://a.example", aud="api"))
    _assert_refused(client, user_id, _hs256(user_id))


@pytest.fixture
def dev_env(monkeypatch, tmp_path, worker_database_url):
    """The environment of a developer's shell: no auth variables, a data directory, a database."""
    for name in AUTH_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TODO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", worker_database_url)
    monkeypatch.setenv("TODO_ENV", "development")
    return tmp_path


@pytest.fixture
def dev_client(client_for, dev_env, worker_database_url):
    settings = make_settings(worker_database_url, TODO_DATA_DIR=str(dev_env), TODO_ENV="development")
    assert settings.auth_mode is AuthMode.DEV
    return client_for(settings)


@pytest.mark.req("AUTH-DEV-MODE")
def test_dev_mode_creates_a_local_key_and_accepts_tokens_signed_with_it(dev_client, dev_env):
    key_path = dev_env / "dev-signing-key.pem"
    assert key_path.exists()
    assert key_path.stat().st_mode & 0o077 == 0, "the private key must not be readable by others"
    user_id = new_user_id("dev")
    _assert_accepted(dev_client, user_id, mint_dev_token(load_or_create_dev_key(key_path), user_id, 300))


@pytest.mark.req("AUTH-DEV-MODE", "OPS-CLI")
def test_todo_api_token_prints_a_token_the_dev_mode_app_accepts(dev_client, capsys):
    user_id = new_user_id("dev")
    assert cli.main(["token", user_id, "--ttl", "120"]) == 0
    token = capsys.readouterr().out.strip()
    _assert_accepted(dev_client, user_id, token)
    assert jwt.decode(token, options={"verify_signature": False})["exp"] - time.time() <= 120


@pytest.mark.req("AUTH-DEV-MODE")
def test_dev_mode_refuses_tokens_from_other_signers(dev_client, issuer):
    user_id = new_user_id("dev")
    foreign = issuer.mint(user_id, iss="todo-api-dev", aud="todo-api-dev")
    _assert_refused(dev_client, user_id, foreign)


@pytest.mark.req("AUTH-DEV-MODE", "OPS-CLI")
def test_todo_api_token_refuses_outside_dev_mode(dev_env, monkeypatch, capsys):
    monkeypatch.setenv("BETTER_AUTH_SECRET", SECRET)
    assert cli.main(["token", "u1"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "only works in dev mode" in captured.err


@pytest.mark.req("AUTH-DEV-MODE", "OPS-BAD-CONFIG")
def test_dev_mode_is_refused_in_production(worker_database_url, tmp_path):
    with pytest.raises(ValidationError, match="TODO_ENV=production"):
        make_settings(worker_database_url, TODO_DATA_DIR=str(tmp_path), TODO_ENV="production")
    assert not (tmp_path / "dev-signing-key.pem").exists()
