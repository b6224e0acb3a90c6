"""Whole load runs (Locust in a subprocess, a real server and database): the exit status is the SLO verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from backend.tasks import repository
from harness.credentials import secret_minter
from loadtests.slo import SLO_FILE

pytestmark = pytest.mark.inprocess


@pytest.mark.req("LOAD-SLO", "LOAD-ISOLATION")
def test_a_smoke_run_that_holds_its_slos_exits_zero_with_every_journey_checked(run_profile):
    result = run_profile()
    assert result.code == 0, result.output
    assert result.summary["passed"] is True
    assert result.summary["isolation_breaches"] == 0
    assert result.summary["errors"] == {}
    required = yaml.safe_load(SLO_FILE.read_text())["endpoints"]
    assert all(result.summary["endpoints"][name]["requests"] > 0 for name in required)
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
