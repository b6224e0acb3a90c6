"""Whole load runs (Locust in a subprocess, a real server and database): the exit status is the SLO verdict."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from backend.tasks import repository
from harness.credentials import secret_minter
from harness.users import new_user_id
from loadtests.slo import SLO_FILE

pytestmark = pytest.mark.inprocess

ROOT = Path(__file__).resolve().parents[2]


def assert_clean_run(result) -> None:
    """Exit 0, the SLOs held, no breach and no error, and every journey of specs/slo.yaml was exercised."""
    assert result.code == 0, result.output
    assert result.summary["passed"] is True
    assert result.summary["isolation_breaches"] == 0
    assert result.summary["errors"] == {}
    required = yaml.safe_load(SLO_FILE.read_text())["endpoints"]
    assert all(result.summary["endpoints"][name]["requests"] > 0 for name in required)


@pytest.mark.req("LOAD-SLO", "LOAD-ISOLATION")
def test_a_smoke_run_that_holds_its_slos_exits_zero_with_every_journey_checked(run_profile):
    result = run_profile()
    assert_clean_run(result)
    assert "SLOs held" in result.output


@pytest.mark.req("LOAD-SLO")
def test_a_breached_budget_exits_non_zero_and_names_the_breach(run_profile, tmp_path: Path):
    document = yaml.safe_load(SLO_FILE.read_text())
    document["budgets"]["ci"]["default"] = {"p95_ms": 0, "p99_ms": 100000, "error_ratio": 1.0}
    impossible = tmp_path / "slo.yaml"
    impossible.write_text(yaml.safe_dump(document))
    result = run_profile("--slo-file", str(impossible))
    assert result.code == 1, result.output
    assert "SLO BREACHED" in result.output
    assert "GET /api/[user]/tasks/[id]: p95" in result.output
    assert result.summary["passed"] is False


@pytest.mark.req("LOAD-ISOLATION", "LOAD-SLO")
def test_a_server_that_leaks_another_users_tasks_fails_the_run_as_an_isolation_breach(
    run_profile, live_url: str, load_secret: str, monkeypatch: pytest.MonkeyPatch
):
    victim = "victim-of-a-leak"
    token = secret_minter(load_secret).mint(victim)
    created = httpx.post(
        f"{live_url}/api/{victim}/tasks", json={"title": "private"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 201
    honest = repository.list_tasks

    async def leaky(pool: Any, user_id: str, **query: Any) -> Any:
        return [*await honest(pool, victim, **query), *await honest(pool, user_id, **query)][: query["limit"] + 1]

    monkeypatch.setattr(repository, "list_tasks", leaky)
    result = run_profile()
    assert result.code == 1, result.output
    assert result.summary["isolation_breaches"] > 0
    assert any(line.startswith("ISOLATION BREACH") for line in result.summary["breaches"])


def write_tokens_file(path: Path, secret: str, *prefixes: str) -> list[str]:
    """A tokens file as a release engineer would bring one: tokens the server trusts, for fixed accounts."""
    user_ids = [new_user_id(prefix) for prefix in prefixes]
    minter = secret_minter(secret)
    path.write_text(json.dumps({"users": [{"token": minter.mint(user_id)} for user_id in user_ids]}))
    return user_ids


def markers_of(live_url: str, secret: str, user_id: str) -> set[str]:
    """The virtual-user markers ("<user id> vu-<tag>") in the titles of the account's tasks."""
    token = secret_minter(secret).mint(user_id)
    response = httpx.get(
        f"{live_url}/api/{user_id}/tasks?limit=200", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200
    return {task["title"].split(" task ")[0] for task in response.json()}


@pytest.mark.req("LOAD-SLO", "LOAD-ISOLATION")
def test_a_run_with_a_tokens_file_shares_its_accounts_between_virtual_users_and_holds_its_slos(
    run_profile, live_url: str, load_secret: str, tmp_path: Path
):
    tokens = tmp_path / "tokens.json"
    accounts = write_tokens_file(tokens, load_secret, "load-file-a", "load-file-b")
    result = run_profile(credentials=("--tokens", str(tokens)))  # 3 virtual users on 2 accounts
    assert_clean_run(result)
    assert result.summary["credentials"]["source"] == "tokens"
    assert result.summary["credentials"]["users_in_file"] == 2
    assert result.summary["credentials"]["virtual_users"] == 3
    assert result.summary["credentials"]["tokens_used"] == 3, "file tokens are used as they are, never renewed"
    markers = [markers_of(live_url, load_secret, account) for account in accounts]
    assert sorted(len(found) for found in markers) == [1, 2], "one account was shared by two virtual users"
    assert all(
        marker.startswith(f"{account} vu-")
        for account, found in zip(accounts, markers, strict=True)
        for marker in found
    )


@pytest.mark.req("LOAD-ISOLATION", "LOAD-SLO")
def test_a_leak_is_still_an_isolation_breach_when_virtual_users_share_accounts(
    run_profile, live_url: str, load_secret: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    tokens = tmp_path / "tokens.json"
    write_tokens_file(tokens, load_secret, "load-file-a", "load-file-b")
    victim = new_user_id("victim")
    created = httpx.post(
        f"{live_url}/api/{victim}/tasks",
        json={"title": "private"},
        headers={"Authorization": f"Bearer {secret_minter(load_secret).mint(victim)}"},
    )
    assert created.status_code == 201
    honest = repository.list_tasks

    async def leaky(pool: Any, user_id: str, **query: Any) -> Any:
        return [*await honest(pool, victim, **query), *await honest(pool, user_id, **query)][: query["limit"] + 1]

    monkeypatch.setattr(repository, "list_tasks", leaky)
    result = run_profile(credentials=("--tokens", str(tokens)))
    assert result.code == 1, result.output
    assert result.summary["isolation_breaches"] > 0
    assert any(line.startswith("ISOLATION BREACH") for line in result.summary["breaches"])


@pytest.mark.req("LOAD-SLO")
def test_virtual_users_that_better_auth_will_not_sign_up_stop_with_the_reason_and_fail_the_run(run_profile, issuer):
    # The harness issuer publishes a JWKS at /api/auth/jwks (so the runner's check passes) but has no sign-up route.
    result = run_profile("--duration", "4", credentials=("--better-auth-url", issuer.base_url))
    assert result.code == 1, result.output
    assert "virtual user stopped: Better Auth at" in result.output
    assert any("did not sign up a virtual user" in error for error in result.summary["errors"])
    assert "POST /api/auth/sign-up/email: error ratio 1.0000" in "\n".join(result.summary["breaches"])
    assert result.summary["credentials"]["credential_failures"] >= 3
    assert "Traceback" not in result.output


def runner(*options: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """The runner as a subprocess (importing it would let Locust monkey-patch this test process)."""
    command = [sys.executable, "-m", "loadtests.run", "--profile", "smoke", *options]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.req("LOAD-SLO")
@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--better-auth-url", "http://127.0.0.1:9"], "--better-auth-url needs --host"),
        (["--tokens", "tokens.json"], "--tokens needs --host"),
        (["--host", "http://127.0.0.1:9", "--tokens", "t.json", "--token-source", "secret"], "means --token-source"),
        (["--host", "http://127.0.0.1:9", "--token-source", "better-auth"], "needs --better-auth-url"),
        (["--host", "http://127.0.0.1:9", "--better-auth-url", "http://127.0.0.1:9"], "did not answer"),
        (["--host", "http://127.0.0.1:9", "--tokens", "missing.json"], "--tokens missing.json"),
    ],
    ids=["better-auth-local", "tokens-local", "contradiction", "no-url", "better-auth-down", "no-file"],
)
def test_credential_options_that_cannot_make_a_run_exit_2_with_the_reason_before_locust_starts(
    options: list[str], message: str, tmp_path: Path
):
    done = runner(*options, "--report-dir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert "profile smoke against" not in done.stdout, "Locust must not start"


@pytest.mark.req("LOAD-SLO")
def test_a_tokens_file_with_expired_tokens_is_refused_before_the_run(tmp_path: Path, load_secret: str):
    path = tmp_path / "tokens.json"
    minter = secret_minter(load_secret)
    path.write_text(json.dumps([minter.mint("load-a", ttl=-10), minter.mint("load-b")]))
    done = runner("--host", "http://127.0.0.1:9", "--tokens", str(path), "--report-dir", str(tmp_path))
    assert done.returncode == 2
    assert "has expired" in done.stderr
