"""Verdicts per requirement: a test records each check against the requirement it proves, and the profile decides
which of them are judged.

A check never stops the test: every check of a test runs, so a contract deviation can never hide a security
violation behind it. Tests record the leak and state checks first and contract checks after; the plugin
(harness/plugin.py) fails the test at its end when a judged check failed, and reports each requirement's verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn

import httpx
import pytest

from harness.exchange import snapshot
from harness.spec.catalogue import Catalogue


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: `message` says what was observed when it failed."""

    ok: bool
    message: str = ""

    def __bool__(self) -> bool:
        return self.ok


PASS = Verdict(True)


def fail(message: str) -> Verdict:
    return Verdict(False, message)


def all_of(*verdicts: Verdict) -> Verdict:
    """The first failed verdict, or a pass."""
    return next((v for v in verdicts if not v.ok), PASS)


class CouldNotRun(pytest.skip.Exception):  # type: ignore[name-defined,misc]
    """The check cannot be set up on this target (no signing key, too few users, setup refused): never a failure."""

    PREFIX = "could not run: "

    def __init__(self, reason: str) -> None:
        super().__init__(self.PREFIX + reason, allow_module_level=False)
        self.reason = reason


def could_not_run(reason: str) -> NoReturn:
    raise CouldNotRun(reason)


@dataclass(frozen=True)
class Check:
    requirement: str
    ok: bool
    message: str
    exchange: dict[str, Any] | None  # the request and response that showed it (harness/exchange.py)

    def to_json(self) -> dict[str, Any]:
        return {"requirement": self.requirement, "ok": self.ok, "message": self.message, "exchange": self.exchange}


@dataclass
class Judge:
    """One test's checks. `expect` records a verdict against a requirement; only judged layers can fail the test."""

    catalogue: Catalogue
    layers: frozenset[str]
    checks: list[Check] = field(default_factory=list)

    def judges(self, requirement: str) -> bool:
        return self.catalogue.layer_of(requirement) in self.layers

    def expect(self, requirement: str, verdict: Verdict, response: httpx.Response | None = None) -> bool:
        """Record `verdict` for `requirement`; returns whether it held (a check outside the profile always holds)."""
        if requirement not in self.catalogue.requirements:
            raise KeyError(f"unknown requirement {requirement!r} (specs/requirements.yaml)")
        if not self.judges(requirement):
            return True
        exchange = snapshot(response) if response is not None and not verdict.ok else None
        self.checks.append(Check(requirement, verdict.ok, verdict.message, exchange))
        return verdict.ok

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def verdicts(self) -> dict[str, str]:
        """requirement -> passed|failed, for every requirement this test judged."""
        result: dict[str, str] = {}
        for check in self.checks:
            if not check.ok or check.requirement not in result:
                result[check.requirement] = "passed" if check.ok else "failed"
        return result

    def summary(self) -> str:
        lines = []
        for check in self.failures:
            req = self.catalogue.requirements[check.requirement]
            kind = f"{req.layer}, {req.severity}" if req.severity else req.layer
            lines.append(f"{check.requirement} [{kind}]: {check.message}")
            if check.exchange:
                request = check.exchange["request"]
                lines.append(f"    {request['method']} {request['url']} -> {check.exchange['response']['status']}")
        return "\n".join(lines)
