"""Traceability: every test names requirement IDs from specs/requirements.yaml with @pytest.mark.req("ID", ...).

- A test without a req marker, or naming an unknown ID, is a collection error (on every xdist worker).
- Each test's IDs travel with its reports (as a user property), so the xdist controller sees them with the outcome.
  A test that judges with the `judge` fixture (harness/plugin.py) also reports each requirement's own verdict: a
  test that failed only ERR-403 still proves ISO-MATRIX. Only requirements in the run's profile are recorded.
- After a run that collected tests/unit, tests/api and tests/security in full (no -k/-m/--lf), a requirement with
  no passing test, and no valid evidence in specs/evidence.yaml, fails the session (`--req-gate=on|off` forces it).
- `--req-json PATH` writes this run's nodeid -> ids -> outcome; `--req-matrix DIR` prints the matrix and writes it
  to DIR/spec-matrix.{md,html} (see harness/spec/matrix.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.keys import COULD_NOT_RUN, JUDGE_ONLY, REQ, VERDICTS
from harness.spec.catalogue import DEFAULT_PROFILE, LAYERS, PROFILES, load_catalogue
from harness.spec.matrix import SUITE_DIRS, Line, Run, build, gaps, render_text, summary, write_reports

MARKER = "req"
_PROPERTY = REQ
# A later phase can only make the outcome worse: error/failed > skipped > passed.
_RANK = {"passed": 0, "xfailed": 1, "skipped": 1, "could-not-run": 1, "xpassed": 2, "failed": 3, "error": 3}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("traceability", "requirement traceability (specs/requirements.yaml)")
    group.addoption(
        "--req-gate",
        choices=("auto", "on", "off"),
        default="auto",
        help="fail when a requirement has no passing test: auto = only after a full in-process run of unit, api and "
        "security in the reference profile",
    )
    group.addoption("--req-json", metavar="PATH", help="write this run's nodeid -> requirement IDs -> outcome")
    group.addoption("--req-matrix", metavar="DIR", help="print the requirement matrix and write it to DIR")


def requirement_ids(item: pytest.Item) -> list[str]:
    return [str(arg) for mark in item.iter_markers(MARKER) for arg in mark.args]


def _marker_problems(item: pytest.Item) -> list[str]:
    ids = requirement_ids(item)
    if not ids:
        return [f'{item.nodeid}: no @pytest.mark.req("ID", ...) naming what it proves (specs/requirements.yaml)']
    unknown = load_catalogue().unknown(ids)
    return (
        [f"{item.nodeid}: unknown requirement ID(s) {', '.join(unknown)} (specs/requirements.yaml)"] if unknown else []
    )


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    report = yield
    if report.passed:
        items = [node for node in report.result if isinstance(node, pytest.Item)]
        problems = [problem for item in items for problem in _marker_problems(item)]
        if problems:
            report.outcome = "failed"
            report.longrepr = "\n".join(problems)
        for item in items:
            item.user_properties.append((_PROPERTY, requirement_ids(item)))
    return report


def _outcome(report: pytest.TestReport, properties: dict[str, Any]) -> str:
    if COULD_NOT_RUN in properties:
        return "could-not-run"
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.failed:
        return "failed" if report.when == "call" else "error"
    return str(report.outcome)


def _suites_run_in_full(config: pytest.Config) -> set[str]:
    """The suite dirs that this invocation selected whole (an argument at or above the dir, no filters)."""
    option = config.option
    filtered = option.keyword or option.markexpr or getattr(option, "lf", False) or getattr(option, "deselect", None)
    if filtered or option.collectonly:
        return set()
    roots = [(config.rootpath / arg).resolve() for arg in config.args if "::" not in arg]
    full = set()
    for suite in SUITE_DIRS:
        target = (config.rootpath / suite).resolve()
        if any(root == target or root in target.parents for root in roots):
            full.add(suite)
    return full


class _Traceability:
    """The controller's (or the only process's) record of the run; registered as a plugin object."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        layers = PROFILES[config.getoption("--profile", DEFAULT_PROFILE)]
        self.run = Run(suites=_suites_run_in_full(config), layers=set(layers))
        self.lines: list[Line] = []
        self.refused: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # On the xdist controller this sees every worker's reports, user properties included.
        properties: dict[str, Any] = dict(report.user_properties)
        if _PROPERTY not in properties:
            return
        outcome = _outcome(report, properties)
        judged: dict[str, str] = properties.get(VERDICTS, {})
        # A test failed only by its judged checks leaves the requirements it did not check unharmed.
        unchecked = "passed" if properties.get(JUDGE_ONLY) else outcome
        catalogue = load_catalogue()
        ids = [i for i in properties[_PROPERTY] if catalogue.layer_of(i) in self.run.layers]
        entry = self.run.tests.setdefault(report.nodeid, {"req": ids, "outcome": outcome, "verdicts": {}})
        if _RANK[outcome] >= _RANK[entry["outcome"]]:
            entry["outcome"] = outcome
        for req_id in ids:
            verdict = judged.get(req_id, unchecked)
            if _RANK[verdict] >= _RANK[entry["verdicts"].get(req_id, "passed")]:
                entry["verdicts"][req_id] = verdict

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        gate = self.config.getoption("--req-gate")
        self.lines = build(self.run)
        ran = bool(self.run.tests)  # nothing ran: a collection error already failed the session
        # auto: the completeness of our own gate, which only a full in-process run of every layer can show.
        ours = not self.config.getoption("--target-url", None) and self.run.layers >= set(LAYERS)
        if ran and (gate == "on" or (gate == "auto" and self.run.is_full and ours)):
            self.refused = gaps(self.lines)
            if self.refused and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        json_path = self.config.getoption("--req-json")
        if json_path:
            path = Path(json_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.run.to_json(), encoding="utf-8")
        matrix_dir = self.config.getoption("--req-matrix")
        if matrix_dir:
            write_reports(self.run, self.lines, Path(matrix_dir))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        matrix_dir = self.config.getoption("--req-matrix")
        if matrix_dir:
            terminalreporter.write_sep("=", "requirement -> tests -> result")
            terminalreporter.write_line(render_text(self.lines))
            terminalreporter.write_line(f"{summary(self.lines)}; written to {matrix_dir}/spec-matrix.{{md,html}}")
        if self.refused:
            terminalreporter.write_sep("=", f"traceability gate: {len(self.refused)} requirement(s) unproven", red=True)
            for line in self.refused:
                terminalreporter.write_line(line)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(*ids): requirement IDs (specs/requirements.yaml) this test covers")
    if not hasattr(config, "workerinput"):  # xdist workers only collect and report
        config.pluginmanager.register(_Traceability(config), "traceability-run")
