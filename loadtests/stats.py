"""Locust's request statistics as EndpointStats: whole runs, and windows between two snapshots (for stress steps)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from loadtests.slo import ISOLATION_BREACH, EndpointStats


def endpoint_key(entry: Any) -> str:
    return f"{entry.method} {entry.name}"


def run_stats(stats: Any) -> list[EndpointStats]:
    """Per-endpoint figures for the whole run from a locust RequestStats."""
    seconds = max(stats.total.last_request_timestamp - stats.total.start_time, 1e-9) if stats.total.num_requests else 0
    return [
        EndpointStats(
            endpoint_key(entry),
            entry.num_requests,
            entry.num_failures,
            dict(entry.response_times),
            seconds,
        )
        for entry in stats.entries.values()
    ]


def isolation_breaches(stats: Any) -> int:
    return sum(error.occurrences for error in stats.errors.values() if ISOLATION_BREACH in str(error.error))


@dataclass
class Snapshot:
    """Cumulative counters at one instant; the difference of two is the window between them."""

    at: float
    entries: dict[str, tuple[int, int, Counter[int]]]

    @classmethod
    def take(cls, stats: Any, at: float) -> Snapshot:
        return cls(
            at,
            {
                endpoint_key(entry): (entry.num_requests, entry.num_failures, Counter(entry.response_times))
                for entry in stats.entries.values()
            },
        )

    def until(self, later: Snapshot) -> list[EndpointStats]:
        seconds = max(later.at - self.at, 1e-9)
        window = []
        for key, (requests, failures, histogram) in later.entries.items():
            before_requests, before_failures, before_histogram = self.entries.get(key, (0, 0, Counter()))
            delta = histogram - before_histogram  # Counter subtraction drops non-positive counts
            window.append(EndpointStats(key, requests - before_requests, failures - before_failures, delta, seconds))
        return window
