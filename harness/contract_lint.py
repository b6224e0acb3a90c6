"""The outside linters of the contract (tools/contract-lint, pinned): Redocly's recommended rules, with the argued
exceptions of .redocly.lint-ignore.yaml, and Spectral's spectral:oas rules of .spectral.yaml. Both run from the
repository root, as a reviewer would run them, and report their findings as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness import ROOT, npm

PROJECT = ROOT / "tools" / "contract-lint"
SPEC = ROOT / "specs" / "openapi.json"
LINT_TIMEOUT_SECONDS = 120


def _bin(tool: str) -> str:
    return str(PROJECT / "node_modules" / ".bin" / tool)


def _spec_argument(spec: Path) -> str:
    # Relative to the root when it can be: the ignore file names the committed document by that path.
    return str(spec.relative_to(ROOT)) if spec.is_relative_to(ROOT) else str(spec)


def _report(command: list[str]) -> Any:
    """The linter's JSON report; a linter that printed none failed to run (its exit code alone says "findings")."""
    done = npm.run(ROOT, command, LINT_TIMEOUT_SECONDS)
    if not done.stdout.strip():
        raise RuntimeError(f"{Path(command[0]).name} printed no report (exit {done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout)


def redocly(spec: Path = SPEC) -> dict[str, Any]:
    """`redocly lint --format=json`: its totals (errors, warnings, ignored) and problems."""
    report: dict[str, Any] = _report([_bin("redocly"), "lint", _spec_argument(spec), "--format=json"])
    return report


def spectral(spec: Path = SPEC) -> list[dict[str, Any]]:
    """`spectral lint --format=json`: every finding, down to hints."""
    command = [_bin("spectral"), "lint", _spec_argument(spec), "--format=json", "--quiet", "--fail-severity=hint"]
    findings: list[dict[str, Any]] = _report(command)
    return findings
