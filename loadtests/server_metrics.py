"""The server's own view of a load run, from its Prometheus `/metrics` (specs/observability.md).

`MetricsWatcher` reads /metrics before the profile, every second during it (the pool's gauges: their peaks) and
after it; `server_figures` turns the difference into the report's `server` section: server-side p50/p95/p99 from the
latency histogram (overall and per route template), pool saturation (peak connections in use and requests waiting
against the pool's size, the share of checkouts that had to wait) and the token-cache hit rate. Only the standard
library and prometheus-client's parser: Locust's process must not import httpx before it patches ssl.
"""

from __future__ import annotations

import math
import threading
import urllib.request
from collections import defaultdict
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

# (sample name, sorted label pairs) -> value
Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]

LATENCY = "todo_http_request_duration_seconds"
POOL_GAUGES = {
    "connections": "todo_db_pool_connections",
    "in_use": "todo_db_pool_connections_in_use",
    "waiting": "todo_db_pool_requests_waiting",
    "max_connections": "todo_db_pool_max_connections",
}
NOT_READ = "server metrics not read"


def scrape(url: str, timeout: float = 5.0) -> Scrape:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - an operator-given http(s) URL
        return parse(response.read().decode("utf-8"))


def parse(text: str) -> Scrape:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(scraped: Scrape, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(value for (sample, pairs), value in scraped.items() if sample == name and wanted <= set(pairs))


class MetricsWatcher:
    """`with MetricsWatcher(url) as watcher: <run>`; then `watcher.figures()`. Never fails the run: a /metrics
    that cannot be read is reported as such."""

    def __init__(self, url: str, interval: float = 1.0) -> None:
        self.url = url
        self.interval = interval
        self.before: Scrape | None = None
        self.after: Scrape | None = None
        self.peaks: dict[str, float] = {}
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="metrics-watcher", daemon=True)

    def __enter__(self) -> MetricsWatcher:
        self.before = self._read()
        if self.before is not None:
            self._note_peaks(self.before)
            self._thread.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if self.before is not None:
            self.after = self._read()
            if self.after is not None:
                self._note_peaks(self.after)

    def figures(self) -> dict[str, Any]:
        if self.before is None or self.after is None:
            return {"read": False, "reason": f"{NOT_READ}: {self.url}: {self.error}"}
        return {"read": True, "url": self.url, **server_figures(self.before, self.after, self.peaks)}

    def _read(self) -> Scrape | None:
        try:
            return scrape(self.url)
        except (OSError, ValueError) as exc:
            self.error = str(exc)
            return None

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._note_peaks(scrape(self.url))
            except (OSError, ValueError):
                continue  # a missed sample only loses a peak

    def _note_peaks(self, scraped: Scrape) -> None:
        for key, name in POOL_GAUGES.items():
            self.peaks[key] = max(self.peaks.get(key, 0.0), total(scraped, name))


def server_figures(before: Scrape, after: Scrape, peaks: dict[str, float]) -> dict[str, Any]:
    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    routes = sorted({dict(pairs)["route"] for name, pairs in after if name == f"{LATENCY}_count"})
    by_route = {route: _quantiles(before, after, route=route) for route in routes}
    checkouts = delta("todo_db_pool_checkouts_total")
    queued = delta("todo_db_pool_checkouts_queued_total")
    hits, misses = delta("todo_token_cache_hits_total"), delta("todo_token_cache_misses_total")
    return {
        "requests": int(delta("todo_http_requests_total")),
        **_quantiles(before, after),
        "by_route": {route: figures for route, figures in by_route.items() if figures["requests"]},
        "pool": {
            "max_connections": int(peaks.get("max_connections", 0)),
            "peak_connections": int(peaks.get("connections", 0)),
            "peak_in_use": int(peaks.get("in_use", 0)),
            "peak_waiting": int(peaks.get("waiting", 0)),
            "checkouts": int(checkouts),
            "queued_ratio": round(queued / checkouts, 4) if checkouts else 0.0,
            "mean_wait_ms": round(delta("todo_db_pool_wait_seconds_total") * 1000 / checkouts, 3) if checkouts else 0.0,
            "timeouts": int(delta("todo_db_pool_checkout_errors_total")),
        },
        "token_cache": {
            "hits": int(hits),
            "misses": int(misses),
            "hit_rate": round(hits / (hits + misses), 4) if hits + misses else None,
        },
        "database_unavailable": int(delta("todo_database_unavailable_total")),
    }


def _quantiles(before: Scrape, after: Scrape, **labels: str) -> dict[str, Any]:
    """p50/p95/p99 in ms of the requests between the two scrapes, as Prometheus's histogram_quantile computes them."""
    buckets: dict[float, float] = defaultdict(float)
    for scraped, sign in ((after, 1.0), (before, -1.0)):
        for (name, pairs), value in scraped.items():
            found = dict(pairs)
            if name == f"{LATENCY}_bucket" and all(found.get(k) == v for k, v in labels.items()):
                buckets[float(found["le"])] += sign * value
    cumulative = sorted(buckets.items())
    count = cumulative[-1][1] if cumulative else 0.0
    figures: dict[str, Any] = {"requests": int(count)}
    for name, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        figures[name] = round(histogram_quantile(q, cumulative) * 1000, 2) if count else None
    return figures


def histogram_quantile(q: float, cumulative: Iterable[tuple[float, float]]) -> float:
    """Linear interpolation inside the bucket that holds the q-quantile; the highest finite bound past it."""
    points = list(cumulative)
    rank = q * points[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in points:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def report_lines(server: dict[str, Any]) -> list[str]:
    """The runner's printed lines for the summary's `server` section."""
    if not server.get("read"):
        return [f"  {server.get('reason', NOT_READ)}"]
    pool, cache = server["pool"], server["token_cache"]
    hit_rate = "n/a" if cache["hit_rate"] is None else f"{cache['hit_rate']:.1%}"
    p99 = "n/a" if server["p99_ms"] is None else f"{server['p99_ms']:.0f} ms"
    return [
        f"  server (/metrics): {server['requests']} requests, p99 {p99}",
        f"  server pool: peak {pool['peak_in_use']} in use of {pool['max_connections']} "
        f"({pool['peak_connections']} open), peak {pool['peak_waiting']} waiting, "
        f"{pool['queued_ratio']:.1%} of {pool['checkouts']} checkouts queued (mean wait {pool['mean_wait_ms']:.1f} ms)",
        f"  server token cache: hit rate {hit_rate} ({cache['hits']} hits, {cache['misses']} misses)",
    ]
