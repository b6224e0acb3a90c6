"""`todo-api check` against a real database and a real JWKS endpoint: exit 0 only when both answer."""

from __future__ import annotations

import json

import pytest

from backend import cli
from backend.settings import Settings


@pytest.fixture
def check_env(monkeypatch, tmp_path, worker_database_url):
    """The shell of an operator: only the variables each test sets, and the test database."""
    for field in Settings.model_fields.values():
        if field.validation_alias:
            monkeypatch.delenv(str(field.validation_alias), raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", worker_database_url)
    monkeypatch.setenv("JWKS_TIMEOUT_SECONDS", "1")
    return monkeypatch


def _check(capsys) -> tuple[int, dict[str, object]]:
    code = cli.main(["check"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.req("OPS-CLI", "AUTH-JWKS")
def test_check_exits_0_when_the_database_and_the_jwks_answer(check_env, capsys, issuer):
    check_env.setenv("BETTER_AUTH_URL", issuer.base_url)
    code, report = _check(capsys)
    assert (code, report["database"]) == (0, "reachable")
    assert report["jwks"] == f"reachable ({len(issuer.keys)} key(s))"
    assert report["config"]["jwks_url"] == issuer.jwks_url  # type: ignore[index]


@pytest.mark.req("OPS-CLI")
def test_check_exits_1_when_the_jwks_is_unreachable(check_env, capsys):
    check_env.setenv("BETTER_AUTH_URL", "http://127.0.0.1:1")
    code, report = _check(capsys)
    assert (code, report["database"], report["jwks"]) == (1, "reachable", "unreachable")


@pytest.mark.req("OPS-CLI", "AUTH-SECRET")
def test_check_in_secret_mode_needs_only_the_database(check_env, capsys):
    check_env.setenv("BETTER_AUTH_SECRET", "x" * 40)
    code, report = _check(capsys)
    assert (code, report["database"]) == (0, "reachable")
    assert "jwks" not in report
