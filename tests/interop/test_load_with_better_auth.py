"""The load runner against the backend as it runs in production with Better Auth (`--better-auth-url`): nothing
reconfigured to trust the harness. Each virtual user signs up a throwaway account with the real Better Auth server
(Node), is that account's user id, and takes its token from /api/auth/token, again whenever it is about to expire."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from sqlalchemy import Engine, text

from backend.app import create_app
from harness import ROOT
from harness.better_auth_server import BetterAuthServer
from harness.net import LiveServer
from loadtests.slo import SLO_FILE

REQUIRED = yaml.safe_load(SLO_FILE.read_text())["endpoints"]


@pytest.fixture(scope="module")
def deployed_url(interop_app: FastAPI) -> Iterator[str]:
    """The backend trusting Better Auth (interop_app's settings) over real HTTP. A server of its own: interop_app's
    lifespan, and so its database pool, belongs to the in-process `api` client."""
    with LiveServer(create_app(interop_app.state.settings)) as server:
        yield server.url


def run_load(url: str, better_auth_url: str, report_dir: Path, *extra: str) -> tuple[int, str, dict[str, Any]]:
    command = [sys.executable, "-m", "loadtests.run", "--host", url, "--better-auth-url", better_auth_url]
    command += ["--profile", "smoke", "--duration", "10", "--users", "3", "--think-time", "0.05,0.2"]
    command += ["--seed-tasks", "22", "--report-dir", str(report_dir), *extra]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=100, check=False)
    summary_path = report_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return done.returncode, done.stdout + done.stderr, summary


def snapshot(engine: Engine) -> tuple[set[str], set[str]]:
    """Better Auth's user ids, and the ids that own tasks in our table."""
    with engine.connect() as connection:
        accounts = set(connection.execute(text('SELECT id FROM "user"')).scalars())
        owners = set(connection.execute(text("SELECT DISTINCT user_id FROM tasks")).scalars())
    return accounts, owners


def api_requests(summary: dict[str, Any]) -> int:
    return sum(figures["requests"] for name, figures in summary["endpoints"].items() if "/api/[user]/" in name)


@pytest.mark.req("LOAD-SLO", "LOAD-ISOLATION", "AUTH-BETTER-AUTH")
def test_a_load_run_signs_up_its_virtual_users_with_better_auth_and_holds_its_slos(
    better_auth_server: BetterAuthServer, deployed_url: str, interop_engine: Engine, tmp_path: Path
):
    accounts_before, owners_before = snapshot(interop_engine)
    code, output, summary = run_load(deployed_url, better_auth_server.base_url, tmp_path)

    assert code == 0, output
    assert "SLOs held" in output
    assert summary["passed"] is True
    assert summary["isolation_breaches"] == 0
    assert summary["errors"] == {}
    assert all(summary["endpoints"][name]["requests"] > 0 for name in REQUIRED)
    credentials = summary["credentials"]
    assert (credentials["source"], credentials["better_auth_url"]) == ("better-auth", better_auth_server.base_url)
    assert credentials["sign_ups"] == 3
    # 15-minute tokens stay fresh through a 10 s run: one GET /api/auth/token per virtual user, no renewal.
    assert credentials["token_endpoint_calls"] == credentials["tokens_used"] == 3

    accounts_after, owners_after = snapshot(interop_engine)
    new_accounts = accounts_after - accounts_before
    with interop_engine.connect() as connection:
        emails = connection.execute(text('SELECT email FROM "user" WHERE id = ANY(:ids)'), {"ids": list(new_accounts)})
        assert all(email.startswith("spec-load-") and email.endswith("@example.test") for email in emails.scalars())
    assert len(new_accounts) == 3
    assert owners_after - owners_before == new_accounts, "the virtual users are Better Auth's users, by its ids"


@pytest.mark.req("LOAD-SLO", "AUTH-BETTER-AUTH")
def test_virtual_users_renew_their_tokens_through_better_auths_token_endpoint(
    better_auth_server: BetterAuthServer, deployed_url: str, tmp_path: Path
):
    # Better Auth's tokens live 15 minutes; a renewal margin above that makes every token "about to expire", so
    # each request must first renew it through GET /api/auth/token, exactly as a browser does near expiry.
    code, output, summary = run_load(
        deployed_url, better_auth_server.base_url, tmp_path, "--duration", "5", "--users", "2", "--renew-margin", "1000"
    )

    assert code == 0, output
    assert summary["passed"] is True
    credentials = summary["credentials"]
    assert credentials["sign_ups"] == 2
    assert credentials["token_endpoint_calls"] >= api_requests(summary) > 0, "one renewal before each request"
    assert credentials["tokens_used"] > 2, "Better Auth issued new tokens during the run, and they were used"
