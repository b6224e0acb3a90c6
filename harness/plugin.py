"""The spec suite's pytest plugin: target mode, profiles, per-requirement verdicts, "could not run", findings.

- `--target-url` runs the suite over HTTP against a deployment; tests that need the in-process app are deselected.
- `--profile security|seed|reference` judges only those layers of specs/requirements.yaml (default reference:
  everything); tests with no requirement in the profile are deselected.
- A test records checks with the `judge` fixture; the test fails at its end if a judged check failed, and its
  report carries each requirement's verdict, so one test can pass ISO-MATRIX while failing ERR-403.
- A check the target cannot set up raises CouldNotRun: reported apart, never a pass, a failure or an error. In
  process it is a failure (a setup our own backend refuses is a bug).
- `--findings DIR` writes findings.json, findings.md and findings.junit.xml; with it (or `--fail-on`), the exit code
  is non-zero iff a finding is at or above `--fail-on` (default high).
"""

from __future__ import annotations

import os
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from harness import discovery
from harness.findings import FAIL_ON_CHOICES, Report, write
from harness.keys import (
    CHECKS,
    CLEANUP,
    COULD_NOT_RUN,
    JUDGE_FAILED_KEY,
    JUDGE_KEY,
    JUDGE_ONLY,
    LAYERS_KEY,
    ROUTES_KEY,
    VERDICTS,
)
from harness.spec.catalogue import DEFAULT_PROFILE, PROFILES, load_catalogue
from harness.spec.traceability import requirement_ids
from harness.verdicts import CouldNotRun, Judge

# Fixtures that only exist in-process; a test needing one is not part of a run against a deployment.
IN_PROCESS_FIXTURES = frozenset(
    {"app", "engine", "settings", "worker_database_url", "client_for", "access_log", "caplog", "monkeypatch"}
)


def pytest_addoption(parser: pytest.Parser) -> None:
    target = parser.getgroup("todo-api target", "run the suite over HTTP against a deployment")
    target.addoption("--target-url", default=os.environ.get("TARGET_URL"), help="the deployment to judge")
    target.addoption("--jwt-secret", default=os.environ.get("TARGET_JWT_SECRET"), help="its HS256 secret")
    target.addoption("--jwt-issuer", help="iss for HS256 tokens (a secret-mode target that checks it)")
    target.addoption("--jwt-audience", help="aud for HS256 tokens (a secret-mode target that checks it)")
    target.addoption(
        "--issuer-port",
        type=int,
        default=int(os.environ.get("TARGET_ISSUER_PORT", "0")),
        help="port of the harness's JWKS issuer (a target started with BETTER_AUTH_URL=http://127.0.0.1:PORT)",
    )
    target.addoption("--better-auth-url", help="sign up throwaway users at this Better Auth and use their JWTs")
    target.addoption("--tokens", type=Path, help="JSON file of pre-issued tokens for two or more users")
    target.addoption("--jwks-url", help="the target's JWKS, for --tokens (default: {iss}/api/auth/jwks)")
    target.addoption("--openapi", default="/openapi.json", help="where the target serves its OpenAPI document")
    target.addoption("--tasks-path", default="/api/{user_id}/tasks", help="the task collection, without OpenAPI")
    target.addoption("--task-param", default="task_id", help="the task id parameter's name, without OpenAPI")
    target.addoption("--create-status", type=int, help="the status create answers, without OpenAPI")
    target.addoption("--id-type", choices=("integer", "string"), default="integer", help="task ids, without OpenAPI")
    judged = parser.getgroup("todo-api profiles and findings")
    judged.addoption(
        "--profile",
        choices=sorted(PROFILES),
        default=DEFAULT_PROFILE,
        help="which layers to judge: security (contract-neutral invariants), seed (+ the seed contract), "
        "reference (+ this backend's own choices; the default)",
    )
    judged.addoption("--findings", type=Path, metavar="DIR", help="write findings.json, findings.md, JUnit XML")
    judged.addoption(
        "--fail-on",
        choices=FAIL_ON_CHOICES,
        default=None,
        help="exit non-zero iff a finding is at or above this severity (default high; contract = any finding)",
    )


def is_target(config: pytest.Config) -> bool:
    return bool(config.getoption("--target-url"))


def findings_mode(config: pytest.Config) -> bool:
    return bool(config.getoption("--findings") or config.getoption("--fail-on"))


def _discover(config: pytest.Config) -> discovery.RouteShapes:
    url: str = config.getoption("--target-url")
    location: str = config.getoption("--openapi")
    with httpx.Client(base_url=url, timeout=15) as client:
        try:
            client.get("/")
        except httpx.TransportError as exc:
            raise pytest.UsageError(f"--target-url {url} cannot be reached: {exc}") from None
        document = discovery.fetch_openapi(client, location)
    found = discovery.from_openapi(document, f"{url}{location}") if document else None
    if found is not None:
        return found
    try:
        return discovery.from_flags(
            config.getoption("--tasks-path"),
            config.getoption("--task-param"),
            config.getoption("--create-status"),
            config.getoption("--id-type"),
        )
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_configure(config: pytest.Config) -> None:
    config.stash[LAYERS_KEY] = PROFILES[config.getoption("--profile")]
    config.stash[ROUTES_KEY] = _discover(config) if is_target(config) else discovery.RouteShapes()
    if not hasattr(config, "workerinput"):  # the xdist controller, or the only process
        config.pluginmanager.register(FindingsCollector(config), "todo-api-findings")


def _in_process_only(item: pytest.Item) -> bool:
    return bool(
        IN_PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ())) or item.get_closest_marker("inprocess")
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Against a target, tests of the in-process app are not part of the run; in a profile, neither are tests that
    judge none of its layers."""
    catalogue, layers = load_catalogue(), config.stash[LAYERS_KEY]
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        ids = [i for i in requirement_ids(item) if i in catalogue.requirements]
        outside = bool(ids) and not any(catalogue.layer_of(i) in layers for i in ids)
        (drop if outside or (is_target(config) and _in_process_only(item)) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def judge(request: pytest.FixtureRequest) -> Judge:
    """Records this test's checks against requirements; the profile decides which are judged."""
    recorder = Judge(load_catalogue(), request.config.stash[LAYERS_KEY])
    request.node.stash[JUDGE_KEY] = recorder
    return recorder


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    result = yield
    recorder = item.stash.get(JUDGE_KEY, None)
    if recorder is not None and recorder.failures:
        item.stash[JUDGE_FAILED_KEY] = True
        pytest.fail(recorder.summary(), pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    recorder = item.stash.get(JUDGE_KEY, None)
    excinfo = call.excinfo
    if excinfo is not None and isinstance(excinfo.value, CouldNotRun):
        if recorder is not None and recorder.failures:  # what was judged before setup broke still counts
            report.outcome, report.longrepr = "failed", recorder.summary()
            item.stash[JUDGE_FAILED_KEY] = True
        elif not is_target(item.config):
            report.outcome = "failed"
            report.longrepr = f"in-process, this backend refused the test's setup ({excinfo.value.reason})"
        else:
            report.user_properties.append((COULD_NOT_RUN, excinfo.value.reason))
    if recorder is not None and report.when == "call":
        report.user_properties += [
            (VERDICTS, recorder.verdicts()),
            (CHECKS, [check.to_json() for check in recorder.failures]),
            (JUDGE_ONLY, item.stash.get(JUDGE_FAILED_KEY, False)),
        ]
    elif report.when == "call" and report.failed and excinfo is not None and excinfo.errisinstance(_FAILURES):
        failure = excinfo.value
        text = str(failure) if isinstance(failure, AssertionError) else f"{type(failure).__name__}: {failure}"
        report.user_properties += _contract_failure(item, text)
    return report


_FAILURES = (Exception, pytest.fail.Exception)


def _contract_failure(item: pytest.Item, message: str) -> list[tuple[str, Any]]:
    """A plain assertion (or a missing field, a wrong type) failed in a test that judges only seed or reference
    requirements: a contract finding against each of them. Security verdicts are never inferred this way; they go
    through the judge."""
    catalogue, layers = load_catalogue(), item.config.stash[LAYERS_KEY]
    judged = [i for i in requirement_ids(item) if i in catalogue.requirements and catalogue.layer_of(i) in layers]
    if not judged or any(catalogue.layer_of(i) == "security" for i in judged):
        return []
    first = message.strip().splitlines()[0][:300] if message.strip() else "an assertion failed"
    checks = [{"requirement": i, "ok": False, "message": first, "exchange": None} for i in judged]
    return [(VERDICTS, dict.fromkeys(judged, "failed")), (CHECKS, checks), (JUDGE_ONLY, True)]


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    if report.skipped and any(name == COULD_NOT_RUN for name, _ in report.user_properties):
        return "could not run", "c", "COULD NOT RUN"
    return None


class FindingsCollector:
    """The controller's record of what the run judged (xdist workers send every report here)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.report = Report(load_catalogue())
        self.fail_on: str = config.getoption("--fail-on") or "high"
        self.report.context = self._context()

    def _context(self) -> dict[str, str]:
        config = self.config
        source = next(
            (
                f"{flag} {config.getoption(flag)}"
                for flag in ("--better-auth-url", "--tokens")
                if config.getoption(flag)
            ),
            "HS256 tokens minted with --jwt-secret"
            if config.getoption("--jwt-secret")
            else "EdDSA tokens minted by the harness issuer",
        )
        layers: frozenset[str] = config.stash[LAYERS_KEY]
        return {
            "target": config.getoption("--target-url") or "the in-process app",
            "profile": f"{config.getoption('--profile')} (judges {', '.join(sorted(layers))})",
            "credentials": source,
            "routes": config.stash[ROUTES_KEY].describe(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        }

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties = dict(report.user_properties)
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.report.counts["could not run" if COULD_NOT_RUN in properties else report.outcome] += 1
        if COULD_NOT_RUN in properties:
            self.report.could_not_run[str(properties[COULD_NOT_RUN])].add(report.nodeid)
        self.report.add_checks(report.nodeid, cast(list[dict[str, Any]], properties.get(CHECKS, [])))
        self.report.add_verdicts(cast(dict[str, str], properties.get(VERDICTS, {})))
        for name, value in cast(dict[str, int], properties.get(CLEANUP, {})).items():
            self.report.cleanup[name] += int(value)
        if report.failed and not properties.get(JUDGE_ONLY):
            first = str(report.longreprtext).strip().splitlines() or ["(no detail)"]
            self.report.errors[report.nodeid] = f"{report.when}: {first[-1][:300]}"

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        directory: Path | None = self.config.getoption("--findings")
        if directory is not None:
            write(self.report, directory, self.fail_on)
        if findings_mode(self.config) and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            failing = self.report.at_or_above(self.fail_on)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED if failing else pytest.ExitCode.OK

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        report = self.report
        if not (is_target(self.config) or findings_mode(self.config) or report.could_not_run):
            return
        terminalreporter.write_sep("=", f"findings ({self.config.getoption('--profile')} profile)")
        for name, value in report.context.items():
            terminalreporter.write_line(f"{name}: {value}")
        for finding in report.ordered():
            data = finding.to_json()
            terminalreporter.write_line(
                f"  [{finding.severity:>8}] {data['requirement']:<24} {data['title']} ({len(data['tests'])} tests)",
                red=finding.severity != "contract",
            )
        if not report.findings:
            terminalreporter.write_line("  no finding", green=True)
        if report.could_not_run:
            total = sum(len(tests) for tests in report.could_not_run.values())
            terminalreporter.write_line(f"could not run: {total} test(s)")
            for reason, tests in sorted(report.could_not_run.items(), key=lambda i: -len(i[1])):
                terminalreporter.write_line(f"  {len(tests):>4} x {reason}")
        if report.errors:
            terminalreporter.write_line(f"harness errors (not verdicts): {len(report.errors)}", yellow=True)
        if report.cleanup:
            terminalreporter.write_line("cleanup: " + ", ".join(f"{k} {v}" for k, v in sorted(report.cleanup.items())))
        directory = self.config.getoption("--findings")
        if directory is not None:
            terminalreporter.write_line(f"written to {directory}/findings.{{json,md,junit.xml}}")
