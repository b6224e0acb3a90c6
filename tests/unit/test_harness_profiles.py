"""The harness judges per requirement and per profile: a test that mixes layers reports each layer's verdict, a profile
runs only the tests that judge its layers, and a check that cannot be set up on a target could not run.

Each case runs a throwaway project through pytester in a subprocess, with the real plugin and catalogue.
"""

from __future__ import annotations

import json

import pytest

from harness import ROOT
from harness.listener import Listener

PLUGINS = ("-p", "harness.spec.traceability", "-p", "harness.plugin", "-p", "no:cacheprovider")
MIXED = """
from harness.verdicts import PASS, fail

@pytest.mark.req("ISO-MATRIX", "ERR-403")
def test_mixed(judge):
    judge.expect("ISO-MATRIX", PASS)
    judge.expect("ERR-403", fail("answered 404, not 403"))

@pytest.mark.req("ERR-405")
def test_reference_only():
    assert False, "only this backend's contract"
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    (pytester.path / "tests").mkdir()
    return pytester


def _write(project: pytest.Pytester, body: str, name: str = "test_case.py") -> None:
    (project.path / "tests" / name).write_text("import pytest\n" + body, encoding="utf-8")


def _verdicts(project: pytest.Pytester) -> dict[str, dict[str, str]]:
    tests = json.loads((project.path / "run.json").read_text())["tests"]
    return {nodeid.split("::")[1]: entry["verdicts"] for nodeid, entry in tests.items()}


@pytest.mark.req("SPEC-PROFILES", "SPEC-TRACEABILITY")
def test_a_test_that_mixes_layers_reports_each_requirements_own_verdict(project):
    _write(project, MIXED)
    result = project.runpytest_subprocess(*PLUGINS, "tests", "--req-json", "run.json")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*ERR-403 [[]reference[]]: answered 404, not 403*"])
    assert _verdicts(project)["test_mixed"] == {"ISO-MATRIX": "passed", "ERR-403": "failed"}


@pytest.mark.req("SPEC-PROFILES")
def test_the_security_profile_judges_only_security_requirements(project):
    _write(project, MIXED)
    result = project.runpytest_subprocess(*PLUGINS, "tests", "--profile", "security", "--req-json", "run.json")
    result.assert_outcomes(passed=1, deselected=1)
    assert _verdicts(project) == {"test_mixed": {"ISO-MATRIX": "passed"}}


@pytest.mark.req("SPEC-PROFILES")
def test_the_seed_profile_adds_seed_requirements_and_leaves_reference_ones_out(project):
    _write(
        project,
        """
from harness.verdicts import fail

@pytest.mark.req("ERR-STATUS-CLASSES", "ERR-404")
def test_classes(judge):
    judge.expect("ERR-STATUS-CLASSES", fail("a 200 for a missing task"))
    judge.expect("ERR-404", fail("not this backend's problem body"))
""",
    )
    result = project.runpytest_subprocess(*PLUGINS, "tests", "--profile", "seed")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ERR-STATUS-CLASSES [[]seed[]]: a 200 for a missing task*"])
    result.stdout.no_fnmatch_line("*ERR-404 [[]reference[]]*")


COULD_NOT_RUN = """
from harness.verdicts import could_not_run

@pytest.mark.req("AUTH-EXPIRY")
def test_needs_the_key():
    could_not_run("needs the target's signing key")
"""


@pytest.mark.req("SPEC-PROFILES")
def test_against_a_target_a_check_that_cannot_be_set_up_could_not_run(project):
    _write(project, COULD_NOT_RUN)
    with Listener(b"not found", status=404) as target:
        result = project.runpytest_subprocess(*PLUGINS, "tests", "--target-url", target.url, "-rs")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*could not run: 1 test(s)*", "*1 x needs the target's signing key*"])


@pytest.mark.req("SPEC-PROFILES")
def test_in_process_a_setup_the_backend_refuses_is_a_failure(project):
    _write(project, COULD_NOT_RUN)
    result = project.runpytest_subprocess(*PLUGINS, "tests")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*this backend refused the test's setup (needs the target's signing key)*"])


@pytest.mark.req("SPEC-PROFILES")
def test_checks_recorded_before_a_setup_broke_still_fail_the_test(project):
    _write(
        project,
        """
from harness.verdicts import could_not_run, fail

@pytest.mark.req("ISO-MATRIX")
def test_judged_then_stuck(judge):
    judge.expect("ISO-MATRIX", fail("read another user's task"))
    could_not_run("the target refused the next step")
""",
    )
    with Listener(b"{}", status=404) as target:
        result = project.runpytest_subprocess(*PLUGINS, "tests", "--target-url", target.url)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ISO-MATRIX [[]security, critical[]]: read another user's task*"])
