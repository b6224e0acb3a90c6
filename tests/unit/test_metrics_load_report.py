"""The load runner's reading of the server's /metrics (loadtests/server_metrics.py): quantiles from the latency
histogram as Prometheus computes them, pool saturation and the token-cache hit rate over the run only."""

from __future__ import annotations

import time

import pytest
from prometheus_client import generate_latest

from backend.metrics import MetricsListener, PrometheusRecorder
from loadtests.server_metrics import MetricsWatcher, Scrape, histogram_quantile, parse, report_lines, server_figures

ITEM = "/api/{user_id}/tasks/{task_id}"
INF = float("inf")


def snapshot(recorder: PrometheusRecorder) -> Scrape:
    assert recorder.registry is not None
    return parse(generate_latest(recorder.registry).decode())


@pytest.mark.req("OPS-METRICS-LOAD")
def test_the_run_is_judged_on_what_happened_between_the_two_reads():
    recorder = PrometheusRecorder()
    recorder.request(ITEM, "GET", 200, 3.0)  # before the run: must not count
    recorder.token_cache_miss()
    recorder.pool_stats({"requests_num": 50, "requests_queued": 40, "requests_wait_ms": 9000})
    before = snapshot(recorder)

    for _ in range(98):
        recorder.request(ITEM, "GET", 200, 0.008)
        recorder.token_cache_hit()
    for _ in range(2):
        recorder.request("/api/{user_id}/tasks", "POST", 201, 0.18)
        recorder.token_cache_miss()
    recorder.pool_stats({"requests_num": 150, "requests_queued": 50, "requests_wait_ms": 10000})
    after = snapshot(recorder)

    figures = server_figures(before, after, {"in_use": 4, "waiting": 3, "connections": 6, "max_connections": 15})

    assert figures["requests"] == 100
    assert figures["p99_ms"] == pytest.approx(175.0)  # rank 99 of 100: a quarter into the (150, 200] ms bucket
    assert figures["p50_ms"] == pytest.approx(5 + 5 * 50 / 98, abs=0.01)
    assert figures["by_route"][ITEM]["requests"] == 98
    assert figures["by_route"][ITEM]["p99_ms"] < 10
    assert figures["pool"] == {
        "max_connections": 15,
        "peak_connections": 6,
        "peak_in_use": 4,
        "peak_waiting": 3,
        "checkouts": 100,
        "queued_ratio": 0.1,
        "mean_wait_ms": 10.0,
        "timeouts": 0,
    }
    assert figures["token_cache"] == {"hits": 98, "misses": 2, "hit_rate": 0.98}
    lines = report_lines({"read": True, **figures})
    assert lines[0] == "  server (/metrics): 100 requests, p99 175 ms"
    assert "peak 4 in use of 15 (6 open), peak 3 waiting, 10.0% of 100 checkouts queued" in lines[1]
    assert "hit rate 98.0% (98 hits, 2 misses)" in lines[2]


@pytest.mark.req("OPS-METRICS-LOAD")
@pytest.mark.parametrize(
    ("cumulative", "q", "expected"),
    [
        ([(1.0, 50.0), (2.0, 100.0), (INF, 100.0)], 0.5, 1.0),
        ([(1.0, 50.0), (2.0, 100.0), (INF, 100.0)], 0.9, 1.8),  # linear inside (1, 2]
        ([(1.0, 50.0), (2.0, 100.0), (INF, 100.0)], 0.99, 1.98),
        ([(0.1, 10.0), (INF, 10.0)], 0.5, 0.05),  # the first bucket starts at 0
        ([(1.0, 10.0), (INF, 20.0)], 0.99, 1.0),  # in the +Inf bucket: the highest finite bound, as Prometheus
        ([(1.0, 0.0), (2.0, 10.0), (INF, 10.0)], 0.0, 1.0),
    ],
)
def test_quantiles_are_interpolated_as_prometheus_does(cumulative, q, expected):
    assert histogram_quantile(q, cumulative) == pytest.approx(expected)


@pytest.mark.req("OPS-METRICS-LOAD")
def test_the_watcher_reads_a_live_listener_and_takes_the_pools_peaks():
    recorder = PrometheusRecorder()
    assert recorder.registry is not None
    listener = MetricsListener("127.0.0.1", 0, recorder.registry)
    try:
        with MetricsWatcher(f"http://127.0.0.1:{listener.port}/metrics", interval=0.02) as watcher:
            recorder.pool_stats({"pool_size": 5, "pool_available": 1, "pool_max": 10, "requests_waiting": 7})
            recorder.request(ITEM, "GET", 200, 0.01)
            for _ in range(100):
                if watcher.peaks.get("waiting") == 7:
                    break
                time.sleep(0.02)
            recorder.pool_stats({"pool_size": 5, "pool_available": 5, "pool_max": 10, "requests_waiting": 0})
        figures = watcher.figures()
    finally:
        listener.close()
    assert figures["read"] is True
    assert figures["requests"] == 1
    assert (figures["pool"]["peak_waiting"], figures["pool"]["peak_in_use"]) == (7, 4)
    assert figures["token_cache"]["hit_rate"] is None  # no token was verified: no rate to report


@pytest.mark.req("OPS-METRICS-LOAD")
def test_a_metrics_url_that_does_not_answer_is_reported_as_not_read():
    with MetricsWatcher("http://127.0.0.1:9/metrics") as watcher:
        pass
    figures = watcher.figures()
    assert figures["read"] is False
    assert figures["reason"].startswith("server metrics not read: http://127.0.0.1:9/metrics: ")
    assert report_lines(figures) == [f"  {figures['reason']}"]
