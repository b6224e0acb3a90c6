"""The SLO verdict (loadtests/slo.py) and the per-step windows the stress profile judges (loadtests/stats.py)."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest
import yaml

from loadtests.slo import (
    SLO_FILE,
    Budget,
    EndpointStats,
    SloSet,
    breaches,
    budget_name_for,
    histogram_percentile,
    load_slo,
    load_stress_plan,
)
from loadtests.stats import Snapshot

LIST = "GET /api/[user]/tasks"
POST = "POST /api/[user]/tasks"
SLO = SloSet(
    name="test",
    default=Budget(p95_ms=100, p99_ms=200, error_ratio=0.01),
    overrides={POST: Budget(p95_ms=300, p99_ms=400, error_ratio=0.01)},
    required=(LIST, POST),
)


def endpoint(name: str, latencies: dict[int, int], failures: int = 0) -> EndpointStats:
    return EndpointStats(name, sum(latencies.values()), failures, latencies, seconds=10)


def healthy() -> list[EndpointStats]:
    return [endpoint(LIST, {10: 99, 50: 1}), endpoint(POST, {20: 100})]


@pytest.mark.req("LOAD-SLO")
def test_a_run_within_every_budget_has_no_breaches():
    assert breaches(SLO, healthy()) == []


@pytest.mark.req("LOAD-SLO")
@pytest.mark.parametrize(
    ("latencies", "failures", "expected"),
    [
        ({10: 90, 150: 10}, 0, f"{LIST}: p95 150 ms > 100 ms"),
        ({10: 98, 250: 2}, 0, f"{LIST}: p99 250 ms > 200 ms"),
        ({10: 100}, 2, f"{LIST}: error ratio 0.0200 > 0.0100 (2 of 100)"),
    ],
    ids=["p95", "p99", "error-ratio"],
)
def test_each_budget_breach_is_reported_with_the_endpoint_and_the_figures(latencies, failures, expected):
    found = breaches(SLO, [endpoint(LIST, latencies, failures), endpoint(POST, {20: 100})])
    assert found == [expected]


@pytest.mark.req("LOAD-SLO")
def test_an_endpoint_override_replaces_the_default_budget():
    within_override = endpoint(POST, {250: 100})  # over the default p95 (100), within POST's own (300)
    assert breaches(SLO, [endpoint(LIST, {10: 100}), within_override]) == []


@pytest.mark.req("LOAD-SLO")
def test_a_required_endpoint_without_requests_is_a_breach():
    assert breaches(SLO, [endpoint(LIST, {10: 100})]) == [f"{POST}: no requests (the journey never ran)"]


@pytest.mark.req("LOAD-SLO", "LOAD-ISOLATION")
def test_any_isolation_breach_fails_the_run_whatever_the_budgets():
    generous = SloSet("generous", Budget(1e9, 1e9, 1.0), {}, ())
    found = breaches(generous, healthy(), isolation_breaches=1)
    assert len(found) == 1
    assert found[0].startswith("ISOLATION BREACH")


@pytest.mark.req("LOAD-SLO")
@pytest.mark.parametrize(("q", "expected"), [(0.5, 10.0), (0.95, 10.0), (0.96, 20.0), (0.99, 20.0), (1.0, 30.0)])
def test_percentile_is_the_smallest_latency_covering_that_share(q, expected):
    assert histogram_percentile({30: 1, 10: 95, 20: 4}, q) == expected


@pytest.mark.req("LOAD-SLO")
def test_percentile_of_no_samples_is_zero():
    assert histogram_percentile({}, 0.99) == 0.0


@pytest.mark.req("LOAD-SLO")
def test_the_committed_slo_file_gives_every_profile_a_complete_budget():
    document = yaml.safe_load(SLO_FILE.read_text(encoding="utf-8"))
    assert set(document["profiles"]) == {"smoke", "load", "stress", "spike", "soak"}
    for profile in document["profiles"]:
        slo = load_slo(budget_name_for(profile))
        assert slo.required == tuple(document["endpoints"])
        assert all(budget.p95_ms <= budget.p99_ms for budget in (slo.default, *slo.overrides.values()))
    assert load_stress_plan().min_users_held >= load_stress_plan().start_users


@pytest.mark.req("LOAD-SLO")
def test_an_unknown_budget_name_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="known: ci, production, spike"):
        load_slo("nope")


def _locust_stats(**entries: tuple[int, int, dict[int, int]]) -> SimpleNamespace:
    """The slice of locust's RequestStats that Snapshot reads."""
    return SimpleNamespace(
        entries={
            name: SimpleNamespace(
                method="GET", name=name, num_requests=n, num_failures=f, response_times=Counter(histogram)
            )
            for name, (n, f, histogram) in entries.items()
        }
    )


@pytest.mark.req("LOAD-SLO")
def test_a_stress_window_counts_only_the_requests_between_its_snapshots():
    before = Snapshot.take(_locust_stats(a=(10, 1, {5: 10})), at=100.0)
    after = Snapshot.take(_locust_stats(a=(30, 2, {5: 12, 900: 18}), b=(4, 0, {7: 4})), at=110.0)
    window = {entry.endpoint: entry for entry in before.until(after)}
    assert (window["GET a"].requests, window["GET a"].failures) == (20, 1)
    assert window["GET a"].histogram == {5: 2, 900: 18}
    assert window["GET a"].percentile(0.5) == 900.0  # the slow requests all fell in this window
    assert (window["GET b"].requests, window["GET b"].seconds) == (4, 10.0)
