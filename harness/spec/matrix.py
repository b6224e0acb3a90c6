"""The traceability matrix: requirement -> tests -> result, from one or more runs' results JSON.

A run's JSON (written by harness/spec/traceability.py) is {"suites": [...dirs run in full...], "layers": [...judged...],
"tests": {nodeid: {"req": [...], "outcome": "passed|failed|error|skipped|could-not-run|xfailed|xpassed",
"verdicts": {req: outcome}}}}: a test's verdict per requirement can differ from its outcome (harness/verdicts.py).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import ROOT
from harness.spec.catalogue import LAYERS, Catalogue, Requirement, load_catalogue, load_evidence

SUITE_DIRS = ("tests/unit", "tests/api", "tests/security")
_BAD = frozenset({"failed", "error", "xpassed"})


@dataclass
class Run:
    suites: set[str] = field(default_factory=set)  # suite dirs this run collected in full
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)  # nodeid -> {"req", "outcome", "verdicts"}
    layers: set[str] = field(default_factory=lambda: set(LAYERS))  # the layers its profile judged

    def to_json(self) -> str:
        data = {"suites": sorted(self.suites), "layers": sorted(self.layers), "tests": self.tests}
        return json.dumps(data, indent=1, sort_keys=True)

    @classmethod
    def merge(cls, paths: Iterable[Path]) -> Run:
        merged = cls(layers=set())
        for path in paths:
            data = json.loads(path.read_text(encoding="utf-8"))
            merged.suites.update(data["suites"])
            merged.layers.update(data.get("layers", LAYERS))
            merged.tests.update(data["tests"])
        return merged

    @property
    def is_full(self) -> bool:
        return set(SUITE_DIRS) <= self.suites


@dataclass(frozen=True)
class Line:
    id: str
    statement: str
    layer: str
    severity: str | None
    result: str  # PASS, FAIL, SKIP, MISSING or EVIDENCE
    tests: tuple[tuple[str, str], ...]  # (nodeid, outcome)
    evidence: tuple[str, ...]
    problem: str | None  # why the gate refuses this requirement, if it does


def _evidence_problems(req_id: str, paths: list[str]) -> list[str]:
    problems = []
    for rel in paths:
        path = ROOT / rel
        if not path.is_file():
            problems.append(f"evidence {rel} does not exist")
        elif req_id not in path.read_text(encoding="utf-8", errors="replace"):
            problems.append(f"evidence {rel} does not name {req_id}")
    return problems


def _line(req: Requirement, tests: list[tuple[str, str]], evidence: list[str]) -> Line:
    req_id = req.id
    outcomes = {outcome for _, outcome in tests}
    evidence_problems = _evidence_problems(req_id, evidence)
    if outcomes & _BAD:
        result, problem = "FAIL", "a test failed"
    elif "passed" in outcomes:
        result, problem = "PASS", None
    elif evidence and not evidence_problems:
        result, problem = "EVIDENCE", None
    elif tests:
        result, problem = "SKIP", "no test passed (only skipped, could not run or xfailed)"
    else:
        result = "MISSING"
        problem = "; ".join(evidence_problems) if evidence_problems else "no test names it"
    return Line(req_id, req.statement, req.layer, req.severity, result, tuple(sorted(tests)), tuple(evidence), problem)


def build(run: Run, catalogue: Catalogue | None = None, evidence: Mapping[str, list[str]] | None = None) -> list[Line]:
    catalogue = catalogue or load_catalogue()
    evidence = load_evidence() if evidence is None else evidence
    judged = [req for req in catalogue.requirements.values() if req.layer in run.layers]
    by_req: dict[str, list[tuple[str, str]]] = {req.id: [] for req in judged}
    for nodeid, entry in run.tests.items():
        verdicts = entry.get("verdicts", {})
        for req_id in entry["req"]:
            if req_id in by_req:
                by_req[req_id].append((nodeid, verdicts.get(req_id, entry["outcome"])))
    return [_line(req, by_req[req.id], list(evidence.get(req.id, []))) for req in judged]


def gaps(lines: Iterable[Line]) -> list[str]:
    return [f"{line.id}: {line.problem}" for line in lines if line.problem]


def _counts(tests: tuple[tuple[str, str], ...]) -> str:
    passed = sum(outcome == "passed" for _, outcome in tests)
    return f"{passed}/{len(tests)} passed"


def render_text(lines: list[Line], width: int = 120) -> str:
    rows = []
    for line in lines:
        bad = [nodeid for nodeid, outcome in line.tests if outcome != "passed"]
        detail = _counts(line.tests) if line.tests else ", ".join(line.evidence) or line.problem or ""
        if bad:
            detail += "; not passed: " + ", ".join(bad[:3]) + (" ..." if len(bad) > 3 else "")
        rows.append(f"{line.result:<8} {line.id:<26} {_kind(line):<18} {detail}"[:width])
    return "\n".join(rows)


def _kind(line: Line) -> str:
    return f"security/{line.severity}" if line.severity else line.layer


def summary(lines: list[Line]) -> str:
    counts: dict[str, int] = {}
    for line in lines:
        counts[line.result] = counts.get(line.result, 0) + 1
    return ", ".join(f"{n} {result}" for result, n in sorted(counts.items()))


def render_markdown(lines: list[Line]) -> str:
    out = [
        "# Requirement traceability matrix",
        "",
        f"{len(lines)} requirements: {summary(lines)}.",
        "",
        "| Requirement | Layer | Result | Tests | Statement |",
        "|---|---|---|---|---|",
    ]
    for line in lines:
        tests = "<br>".join(f"`{nodeid}` {outcome}" for nodeid, outcome in line.tests)
        tests = tests or "<br>".join(f"evidence: `{path}`" for path in line.evidence) or line.problem or ""
        statement = line.statement.replace("|", "\\|")
        out.append(f"| `{line.id}` | {_kind(line)} | {line.result} | {tests} | {statement} |")
    return "\n".join(out) + "\n"


_COLOURS = {"PASS": "#d4f7d4", "EVIDENCE": "#e0ecff", "SKIP": "#fff3c4", "FAIL": "#ffd6d6", "MISSING": "#ffd6d6"}


def render_html(lines: list[Line]) -> str:
    rows = []
    for line in lines:
        items = [f"<li><code>{html.escape(n)}</code> {html.escape(o)}</li>" for n, o in line.tests]
        items += [f"<li>evidence: <code>{html.escape(p)}</code></li>" for p in line.evidence]
        tests = f"<details><summary>{_counts(line.tests)}</summary><ul>{''.join(items)}</ul></details>"
        rows.append(
            f'<tr style="background:{_COLOURS[line.result]}"><td><code>{html.escape(line.id)}</code></td>'
            f"<td>{html.escape(_kind(line))}</td><td>{line.result}</td><td>{html.escape(line.statement)}</td><td>{tests}"
            f"{html.escape(line.problem or '')}</td></tr>"
        )
    return (
        "<!doctype html><meta charset=utf-8><title>Requirement traceability matrix</title>"
        "<style>body{font-family:sans-serif}td{vertical-align:top;padding:4px 8px}table{border-collapse:collapse}"
        "tr{border-bottom:1px solid #ccc}</style>"
        f"<h1>Requirement traceability matrix</h1><p>{len(lines)} requirements: {summary(lines)}.</p>"
        "<table><tr><th>Requirement</th><th>Layer</th><th>Result</th><th>Statement</th><th>Tests</th></tr>"
        + "".join(rows)
        + "</table>\n"
    )


def write_reports(run: Run, lines: list[Line], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "spec-results.json": run.to_json(),
        "spec-matrix.md": render_markdown(lines),
        "spec-matrix.html": render_html(lines),
    }
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return [directory / name for name in files]
