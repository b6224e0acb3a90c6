"""SLO budgets from specs/slo.yaml and the verdict on a run's per-endpoint figures (no Locust import: testable).

Requirement LOAD-SLO: per-endpoint p95/p99 and error-ratio budgets; a run that breaches any exits non-zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SLO_FILE = Path(__file__).resolve().parents[1] / "specs" / "slo.yaml"
ISOLATION_BREACH = "ISOLATION BREACH"


@dataclass(frozen=True)
class Budget:
    p95_ms: float
    p99_ms: float
    error_ratio: float


@dataclass(frozen=True)
class SloSet:
    """One named budget: a default plus per-endpoint overrides, and the endpoints every run must exercise."""

    name: str
    default: Budget
    overrides: Mapping[str, Budget]
    required: tuple[str, ...]

    def for_endpoint(self, endpoint: str) -> Budget:
        return self.overrides.get(endpoint, self.default)


@dataclass(frozen=True)
class StressPlan:
    start_users: int
    step_users: int
    step_seconds: float
    max_users: int
    min_users_held: int


@dataclass
class EndpointStats:
    """One endpoint's figures for a run or a window. `histogram` maps rounded latency (ms) to a count."""

    endpoint: str
    requests: int
    failures: int
    histogram: Mapping[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def error_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def percentile(self, q: float) -> float:
        return histogram_percentile(self.histogram, q)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "failures": self.failures,
            "error_ratio": round(self.error_ratio, 6),
            "rps": round(self.requests / self.seconds, 2) if self.seconds else None,
            "p50_ms": self.percentile(0.50),
            "p95_ms": self.percentile(0.95),
            "p99_ms": self.percentile(0.99),
        }


def histogram_percentile(histogram: Mapping[int, int], q: float) -> float:
    """The smallest latency with at least q of the samples at or below it (0 for no samples)."""
    total = sum(histogram.values())
    if total == 0:
        return 0.0
    rank = max(1, math.ceil(q * total))
    seen = 0
    for latency in sorted(histogram):
        seen += histogram[latency]
        if seen >= rank:
            return float(latency)
    return float(max(histogram))


def _budget(raw: Mapping[str, Any], fallback: Budget | None = None) -> Budget:
    def pick(key: str) -> float:
        if key in raw:
            return float(raw[key])
        if fallback is None:
            raise ValueError(f"SLO budget is missing {key}")
        return float(getattr(fallback, key))

    return Budget(p95_ms=pick("p95_ms"), p99_ms=pick("p99_ms"), error_ratio=pick("error_ratio"))


def _document(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{path} is not a mapping")
    return document


def budget_name_for(profile: str, path: Path = SLO_FILE) -> str:
    return str(_document(path)["profiles"][profile])


def load_slo(budget_name: str, path: Path = SLO_FILE) -> SloSet:
    document = _document(path)
    try:
        raw = document["budgets"][budget_name]
    except KeyError:
        known = ", ".join(sorted(document.get("budgets", {})))
        raise ValueError(f"no SLO budget named {budget_name!r} in {path} (known: {known})") from None
    default = _budget(raw["default"])
    overrides = {name: _budget(values, default) for name, values in (raw.get("endpoints") or {}).items()}
    return SloSet(budget_name, default, overrides, tuple(document.get("endpoints", ())))


def load_stress_plan(path: Path = SLO_FILE) -> StressPlan:
    raw = _document(path)["stress"]
    return StressPlan(
        start_users=int(raw["start_users"]),
        step_users=int(raw["step_users"]),
        step_seconds=float(raw["step_seconds"]),
        max_users=int(raw["max_users"]),
        min_users_held=int(raw["min_users_held"]),
    )


def breaches(slo: SloSet, stats: Iterable[EndpointStats], *, isolation_breaches: int = 0) -> list[str]:
    """Every way the run missed its SLOs, one readable line each; empty when it held."""
    found: list[str] = []
    if isolation_breaches:
        found.append(f"{ISOLATION_BREACH}: {isolation_breaches} response(s) carried another user's task")
    by_name = {entry.endpoint: entry for entry in stats}
    for endpoint in slo.required:
        if by_name.get(endpoint) is None or by_name[endpoint].requests == 0:
            found.append(f"{endpoint}: no requests (the journey never ran)")
    for entry in by_name.values():
        if entry.requests == 0:
            continue
        budget = slo.for_endpoint(entry.endpoint)
        for label, value, limit in (
            ("p95", entry.percentile(0.95), budget.p95_ms),
            ("p99", entry.percentile(0.99), budget.p99_ms),
        ):
            if value > limit:
                found.append(f"{entry.endpoint}: {label} {value:.0f} ms > {limit:.0f} ms")
        if entry.error_ratio > budget.error_ratio:
            found.append(
                f"{entry.endpoint}: error ratio {entry.error_ratio:.4f} > {budget.error_ratio:.4f} "
                f"({entry.failures} of {entry.requests})"
            )
    return found
