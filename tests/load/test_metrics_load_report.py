"""A load run reads the server's /metrics: server-side p99, pool saturation and the token-cache hit rate land in
summary.json and the printed report; without --metrics-url the report says they were not read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend.app import create_app
from harness.inprocess import make_settings
from harness.net import LiveServer, free_port

pytestmark = pytest.mark.inprocess


@pytest.fixture
def metrics_port() -> int:
    return free_port()


@pytest.fixture
def live_url(worker_database_url: str, metrics_port: int, load_secret: str) -> Iterator[str]:
    """The conftest's live server, with TODO_METRICS_PORT: its lifespan serves /metrics on that port."""
    settings = make_settings(worker_database_url, BETTER_AUTH_SECRET=load_secret, TODO_METRICS_PORT=metrics_port)
    app = create_app(settings)
    with LiveServer(app) as server:
        yield server.url


@pytest.mark.req("OPS-METRICS-LOAD")
def test_a_run_with_a_metrics_url_reports_the_servers_p99_pool_and_token_cache(run_profile, metrics_port):
    result = run_profile("--metrics-url", f"http://127.0.0.1:{metrics_port}/metrics")

    assert result.code == 0, result.output
    server = result.summary["server"]
    assert server["read"] is True
    client_requests = sum(figures["requests"] for figures in result.summary["endpoints"].values())
    assert server["requests"] == client_requests  # the server saw exactly the run, nothing before it
    assert 0 < server["p50_ms"] <= server["p95_ms"] <= server["p99_ms"]
    assert server["by_route"]["/api/{user_id}/tasks"]["requests"] > 0
    pool = server["pool"]
    assert pool["max_connections"] == 10  # DB_POOL_SIZE 5 + DB_MAX_OVERFLOW 5
    assert 1 <= pool["peak_connections"] <= 10
    assert 0 <= pool["peak_in_use"] <= 10
    assert pool["peak_waiting"] >= 0
    assert pool["checkouts"] >= client_requests // 2
    assert 0.5 < server["token_cache"]["hit_rate"] <= 1  # three users, each reusing its token
    assert "server (/metrics): " in result.output
    assert "server pool: peak " in result.output
    assert "server token cache: hit rate " in result.output


@pytest.mark.req("OPS-METRICS-LOAD")
def test_a_run_without_a_metrics_url_says_the_server_metrics_were_not_read(run_profile):
    result = run_profile("--duration", "4")  # too short for every journey: the SLO verdict may fail, not the run

    assert result.code in {0, 1}, result.output
    assert result.summary["server"] == {"read": False, "reason": "server metrics not read (no --metrics-url)"}
    assert "server metrics not read (no --metrics-url)" in result.output
