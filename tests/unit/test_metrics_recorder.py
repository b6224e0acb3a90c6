"""backend/metrics.py's parts: the pool's figures from a real saturated pool, counters carried over as deltas, the
supervisor's sum over worker processes (a dead worker's gauges dropped, its counts kept), route templates, the
listener, and the no-op recorder."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from backend import metrics
from backend.db.pool import build_pool
from harness import ROOT
from harness.inprocess import make_settings
from loadtests.server_metrics import Scrape, scrape, total


def read(recorder: metrics.PrometheusRecorder) -> Scrape:
    listener = metrics.MetricsListener("127.0.0.1", 0, recorder.registry)  # type: ignore[arg-type]
    try:
        return scrape(f"http://127.0.0.1:{listener.port}/metrics")
    finally:
        listener.close()


@pytest.mark.req("OPS-METRICS")
def test_a_saturated_pool_shows_its_connections_in_use_and_the_requests_waiting(worker_database_url):
    recorder = metrics.PrometheusRecorder()
    settings = make_settings(worker_database_url, DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, DB_POOL_MIN_SIZE=1)

    async def saturate() -> None:
        async with build_pool(settings, worker_database_url) as pool:
            await pool.wait()
            async with pool.connection():
                waiters = [asyncio.create_task(_borrow(pool)) for _ in range(2)]
                while pool.get_stats().get("requests_waiting", 0) < 2:
                    await asyncio.sleep(0.01)
                recorder.pool_stats(pool.get_stats())
            await asyncio.gather(*waiters)

    asyncio.run(saturate())
    scraped = read(recorder)
    assert total(scraped, "todo_db_pool_connections") == 1
    assert total(scraped, "todo_db_pool_max_connections") == 1
    assert total(scraped, "todo_db_pool_connections_in_use") == 1
    assert total(scraped, "todo_db_pool_requests_waiting") == 2
    assert total(scraped, "todo_db_pool_checkouts_queued_total") == 2


async def _borrow(pool: metrics.StatsSource) -> None:
    async with pool.connection():  # type: ignore[attr-defined]
        pass


@pytest.mark.req("OPS-METRICS")
def test_the_pools_counters_are_carried_over_as_deltas_and_survive_a_new_pool():
    recorder = metrics.PrometheusRecorder()
    recorder.pool_stats({"requests_num": 10, "requests_queued": 2, "requests_wait_ms": 1500, "requests_errors": 1})
    recorder.pool_stats({"requests_num": 15, "requests_queued": 2, "requests_wait_ms": 2000, "requests_errors": 1})
    recorder.pool_stats({"requests_num": 3})  # the lifespan ran again: a new pool counts from zero

    scraped = read(recorder)
    assert total(scraped, "todo_db_pool_checkouts_total") == 18
    assert total(scraped, "todo_db_pool_checkouts_queued_total") == 2
    assert total(scraped, "todo_db_pool_wait_seconds_total") == pytest.approx(2.0)
    assert total(scraped, "todo_db_pool_checkout_errors_total") == 1


@pytest.mark.req("OPS-METRICS")
def test_the_sampler_copies_the_pools_figures_until_cancelled():
    class Pool:
        calls = 0

        def get_stats(self) -> dict[str, int]:
            self.calls += 1
            return {"pool_size": 4, "pool_available": 1, "pool_max": 8, "requests_waiting": 0}

    recorder, pool = metrics.PrometheusRecorder(), Pool()

    async def run() -> None:
        task = asyncio.create_task(metrics.sample_pool(pool, recorder, interval=0.01))
        await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(run())
    assert pool.calls >= 2
    assert total(read(recorder), "todo_db_pool_connections_in_use") == 3


WORKER = """
import os, sys
from backend.metrics import PrometheusRecorder
recorder = PrometheusRecorder()
recorder.request("/api/{user_id}/tasks", "GET", 200, 0.01)
recorder.pool_stats({"pool_size": 2, "pool_available": 1, "pool_max": 15})
if sys.argv[1] == "stay":
    print(os.getpid(), flush=True)
    sys.stdin.read()
"""


@pytest.mark.req("OPS-METRICS-WORKERS")
def test_the_supervisor_adds_up_its_workers_and_forgets_the_gauges_of_a_dead_one(tmp_path: Path):
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", textwrap.dedent(WORKER), "exit"], env=env, check=True, cwd=ROOT)
    live = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(WORKER), "stay"],
        env=env,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert live.stdout is not None
        live.stdout.readline()  # its figures are written
        listener = metrics.serve_workers("127.0.0.1", 0, str(tmp_path))
        try:
            scraped = scrape(f"http://127.0.0.1:{listener.port}/metrics")
        finally:
            listener.close()
    finally:
        live.communicate(b"", timeout=30)

    route = {"route": "/api/{user_id}/tasks"}
    assert total(scraped, "todo_http_requests_total", **route) == 2  # the dead worker's count is kept
    assert total(scraped, "todo_http_request_duration_seconds_count", **route) == 2
    assert total(scraped, "todo_db_pool_connections") == 2  # only the live worker's pool
    assert total(scraped, "todo_db_pool_max_connections") == 15


@pytest.mark.req("OPS-METRICS-LABELS")
def test_a_scope_without_a_route_or_an_app_is_unmatched():
    assert metrics.route_template({"type": "http", "path": "/x", "method": "GET"}) == metrics.UNMATCHED


@pytest.mark.req("OPS-METRICS-EXPOSURE")
@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.10", False),
        ("metrics.example", False),
    ],
)
def test_only_loopback_hosts_count_as_loopback(host, loopback):
    assert metrics._is_loopback(host) is loopback


@pytest.mark.req("OPS-METRICS-EXPOSURE")
def test_the_listener_takes_ipv6_and_warns_when_it_is_not_on_loopback(caplog, monkeypatch):
    recorder = metrics.PrometheusRecorder()
    metrics.log.addHandler(caplog.handler)
    try:
        listener = metrics.MetricsListener("::1", 0, recorder.registry)  # type: ignore[arg-type]
        try:
            assert httpx.get(f"http://[::1]:{listener.port}/metrics", timeout=5).status_code == 200
        finally:
            listener.close()
        assert "network boundary" not in caplog.text
        # Bound to loopback all the same (tests bind no other interface); only the check is told otherwise.
        monkeypatch.setattr(metrics, "_is_loopback", lambda host: False)
        metrics.MetricsListener("127.0.0.1", 0, recorder.registry).close()  # type: ignore[arg-type]
    finally:
        metrics.log.removeHandler(caplog.handler)
    assert "keep that address behind a network boundary" in caplog.text


@pytest.mark.req("OPS-METRICS-EXPOSURE")
def test_the_no_op_recorder_records_nothing_and_has_no_registry():
    recorder = metrics.build_recorder(None)
    assert recorder is metrics.NOOP
    assert not recorder.enabled
    assert recorder.registry is None
    recorder.request("/x", "GET", 200, 0.1)
    recorder.token_cache_hit()
    recorder.token_cache_miss()
    recorder.jwks_fetch(ok=False)
    recorder.database_unavailable()
    recorder.pool_stats({"pool_size": 1})
    assert isinstance(metrics.build_recorder(9100), metrics.PrometheusRecorder)


@pytest.mark.req("OPS-NO-SERVER-BANNER")
@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200),
        (b"GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431),  # http.server's own error page
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
    ],
)
def test_the_metrics_listener_sends_no_server_banner(request_bytes, status):
    recorder = metrics.PrometheusRecorder()
    listener = metrics.MetricsListener("127.0.0.1", 0, recorder.registry)  # type: ignore[arg-type]
    try:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as connection:
            connection.sendall(request_bytes)
            answer = b"".join(iter(lambda: connection.recv(65536), b""))
    finally:
        listener.close()
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower().splitlines()
    assert head[0].split()[1] == str(status), head
    assert any(line.startswith("date:") for line in head[1:]), head
    assert not any(line.startswith("server:") for line in head[1:]), head
