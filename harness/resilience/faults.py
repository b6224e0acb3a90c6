"""Fault-injection helpers: an app on a killable PostgreSQL, the stored-versus-acknowledged check, the run report."""

from __future__ import annotations

from fastapi import FastAPI

from backend.app import create_app
from harness.inprocess import make_settings
from harness.issuer import TokenIssuer
from harness.resilience.cluster import PostgresCluster
from harness.resilience.load import Outcomes

FAULTS_DATABASE = "todo_faults"


def cluster_app(cluster: PostgresCluster, issuer: TokenIssuer, **overrides: object) -> FastAPI:
    # Small bounded timeouts, as in production: an outage must surface as a quick 503, never a hang.
    settings = make_settings(
        cluster.url(FAULTS_DATABASE),
        BETTER_AUTH_URL=issuer.base_url,
        DB_POOL_SIZE=4,
        DB_POOL_TIMEOUT_SECONDS=2,
        DB_CONNECT_TIMEOUT_SECONDS=2,
        **overrides,
    )
    return create_app(settings)


def stored_tasks(cluster: PostgresCluster, user_ids: list[str]) -> dict[str, int]:
    """title -> id of every task the load users own, read straight from the database."""
    rows = cluster.execute("SELECT title, id FROM tasks WHERE user_id = ANY(%s)", FAULTS_DATABASE, [user_ids])
    return {str(title): int(str(task_id)) for title, task_id in rows}


def assert_no_write_lost_or_invented(cluster: PostgresCluster, user_ids: list[str], outcomes: Outcomes) -> None:
    stored = stored_tasks(cluster, user_ids)
    lost = {title: task_id for title, task_id in outcomes.acknowledged.items() if stored.get(title) != task_id}
    assert not lost, f"acknowledged with 201 but not stored: {lost}"
    invented = set(stored) - set(outcomes.acknowledged) - outcomes.unknown
    assert not invented, f"stored although answered 503 (or never sent): {sorted(invented)[:10]}"


REPORTS: list[str] = []


def report(title: str, **facts: object) -> None:
    """What was injected and what was observed; printed at the end of the run (run without xdist to see it)."""
    lines = "\n".join(f"    {name.replace('_', ' ')}: {value}" for name, value in facts.items())
    REPORTS.append(f"{title}\n{lines}")
