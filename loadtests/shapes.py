"""The load profiles as Locust LoadTestShapes, selected by name: smoke, load, stress, spike, soak.

`configure()` returns a subclass with the run's parameters baked in, because Locust instantiates the one shape class
it finds in the locustfile without arguments.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from locust import LoadTestShape

from loadtests.slo import SLO_FILE, SloSet, StressPlan, breaches, load_slo, load_stress_plan
from loadtests.stats import Snapshot

log = logging.getLogger("loadtests.shapes")

Tick = tuple[int, float] | None


@dataclass(frozen=True)
class Params:
    users: int
    duration: float  # seconds; for stress the cap on the whole ramp


class Profile(LoadTestShape):
    abstract = True
    name: ClassVar[str]
    think_time: ClassVar[tuple[float, float]] = (0.5, 2.0)
    default: ClassVar[Params]
    params: ClassVar[Params]
    slo_path: ClassVar[Path] = SLO_FILE
    budget: ClassVar[str] = ""

    def tick(self) -> Tick:
        raise NotImplementedError

    def results(self) -> dict[str, Any]:
        """Profile-specific findings for the JSON summary."""
        return {}

    @staticmethod
    def _ramp_rate(users: int, seconds: float) -> float:
        return max(users / max(seconds, 1.0), 1.0)


class Smoke(Profile):
    """A handful of users through every journey for about a minute: does it work at all, and fast enough?"""

    name = "smoke"
    think_time = (0.2, 1.0)
    default = Params(users=10, duration=60)

    def tick(self) -> Tick:
        if self.get_run_time() >= self.params.duration:
            return None
        return self.params.users, self._ramp_rate(self.params.users, 5)


class Load(Profile):
    """Steady average traffic: a 30 s ramp, then a constant population for the rest of the duration."""

    name = "load"
    default = Params(users=50, duration=300)

    def tick(self) -> Tick:
        if self.get_run_time() >= self.params.duration:
            return None
        return self.params.users, self._ramp_rate(self.params.users, 30)


class Soak(Load):
    """Load's population held for a long time (--duration; 10 minutes by default): leaks, pool churn, token expiry."""

    name = "soak"
    default = Params(users=30, duration=600)


class Spike(Profile):
    """Baseline, a sudden 10x burst within 5 s, then baseline again: thirds of the duration each."""

    name = "spike"
    default = Params(users=100, duration=180)

    def tick(self) -> Tick:
        elapsed, third = self.get_run_time(), self.params.duration / 3
        baseline = max(self.params.users // 10, 1)
        if elapsed >= self.params.duration:
            return None
        if third <= elapsed < 2 * third:
            return self.params.users, self._ramp_rate(self.params.users - baseline, 5)
        return baseline, self._ramp_rate(self.params.users, 5)


class Stress(Profile):
    """Adds users in steps and holds each step's own window to the SLOs; stops at the first step that breaks them."""

    name = "stress"
    think_time = (0.2, 1.0)
    default = Params(users=0, duration=3600)  # users 0: the plan's max_users
    settle_fraction: ClassVar[float] = 0.2  # ignore the start of each step, while users are still arriving

    def __init__(self) -> None:
        super().__init__()
        self.plan: StressPlan = load_stress_plan(self.slo_path)
        self.slo: SloSet = load_slo(self.budget, self.slo_path)
        self.max_users = self.params.users or self.plan.max_users
        self.steps: list[dict[str, Any]] = []
        self._step = 0
        self._window_start: Snapshot | None = None
        self.broken = False

    def users_at(self, step: int) -> int:
        return self.plan.start_users + step * self.plan.step_users

    def tick(self) -> Tick:
        elapsed = self.get_run_time()
        step = int(elapsed // self.plan.step_seconds)
        if step != self._step:
            held = self._close_step()
            self._step = step
            if not held or self.users_at(step) > self.max_users or elapsed >= self.params.duration:
                return None
        if self._window_start is None and elapsed - step * self.plan.step_seconds >= (
            self.plan.step_seconds * self.settle_fraction
        ):
            self._window_start = Snapshot.take(self._stats(), time.time())
        users = self.users_at(step)
        return users, self._ramp_rate(self.plan.step_users, 5)

    def _stats(self) -> Any:
        assert self.runner is not None
        return self.runner.stats

    def _close_step(self) -> bool:
        if self._window_start is None:
            return True
        window = self._window_start.until(Snapshot.take(self._stats(), time.time()))
        self._window_start = None
        found = breaches(self.slo, window)
        users = self.users_at(self._step)
        endpoints = {entry.endpoint: entry.as_dict() for entry in window}
        self.steps.append({"users": users, "held": not found, "breaches": found, "endpoints": endpoints})
        log.info("stress step %d users: %s", users, "held" if not found else "; ".join(found))
        self.broken = bool(found)
        return not found

    @property
    def last_held(self) -> int | None:
        held = [step["users"] for step in self.steps if step["held"]]
        return max(held) if held else None

    def capacity_breaches(self) -> list[str]:
        if self.last_held is None or self.last_held < self.plan.min_users_held:
            return [
                f"stress: the last step that held the SLOs had {self.last_held or 0} users "
                f"(needs >= {self.plan.min_users_held})"
            ]
        return []

    def results(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "last_held_users": self.last_held,
            "broke_at_users": self.steps[-1]["users"] if self.broken else None,
            "min_users_held": self.plan.min_users_held,
        }


PROFILES: dict[str, type[Profile]] = {cls.name: cls for cls in (Smoke, Load, Stress, Spike, Soak)}


def configure(
    name: str, *, users: int | None, duration: float | None, budget: str, slo_path: Path = SLO_FILE
) -> type[Profile]:
    base = PROFILES[name]
    params = Params(
        users=users if users is not None else base.default.users,
        duration=duration if duration is not None else base.default.duration,
    )
    attributes = {"params": params, "budget": budget, "slo_path": slo_path, "__module__": __name__}
    return type(base.__name__, (base,), attributes)
