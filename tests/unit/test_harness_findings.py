"""Findings: one per violated requirement, merged across tests, with a minimal reproduction that shows tokens by their
claims and never a secret; JSON, Markdown and JUnit XML; an exit code that is non-zero iff a finding is at or above
--fail-on."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

import httpx
import pytest

from harness import ROOT
from harness.exchange import snapshot
from harness.findings import Report, render_junit, render_markdown
from harness.spec.catalogue import load_catalogue
from harness.tokens import HS256Signer
from harness.verdicts import Check

PLUGINS = ("-p", "harness.spec.traceability", "-p", "harness.plugin", "-p", "no:cacheprovider")
SECRET = "findings-test-secret-0123456789abcdef-xyz"
PROJECT = f'''
import httpx
from harness.tokens import HS256Signer
from harness.verdicts import fail

SIGNER = HS256Signer("{SECRET}")


def attack(body_size: int) -> httpx.Response:
    token = SIGNER.sign({{"sub": "attacker", "id": "victim", "iat": 1, "exp": 2**31}}, {{}})
    request = httpx.Request(
        "PUT", "http://target.test/api/victim/tasks/7", headers={{"Authorization": f"Bearer {{token}}"}},
        json={{"title": "pwned" + "x" * body_size}},
    )
    return httpx.Response(200, request=request, json={{"id": 7, "title": "pwned", "echo": token}})


@pytest.mark.req("AUTH-IDENTITY-CLAIM")
def test_big(judge):
    judge.expect("AUTH-IDENTITY-CLAIM", fail("the id claim chose the caller"), attack(500))


@pytest.mark.req("AUTH-IDENTITY-CLAIM", "ERR-NO-5XX")
def test_small(judge):
    judge.expect("AUTH-IDENTITY-CLAIM", fail("the id claim chose the caller again"), attack(0))
    judge.expect("ERR-NO-5XX", fail("a 500 on a NUL"), attack(1))
'''


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_attacks.py").write_text("import pytest\n" + PROJECT, encoding="utf-8")
    return pytester


@pytest.mark.req("SPEC-FINDINGS")
def test_one_finding_per_requirement_merged_across_tests_with_the_smallest_reproduction(project):
    result = project.runpytest_subprocess(*PLUGINS, "tests", "--findings", "out")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    findings = json.loads((project.path / "out/findings.json").read_text())
    assert [(f["requirement"], f["severity"]) for f in findings] == [
        ("AUTH-IDENTITY-CLAIM", "critical"),
        ("ERR-NO-5XX", "medium"),
    ]
    identity = findings[0]
    assert identity["title"] == load_catalogue().requirements["AUTH-IDENTITY-CLAIM"].finding
    assert [t.split("::")[1] for t in identity["tests"]] == ["test_big", "test_small"]
    repro = identity["reproduction"]
    assert (repro["method"], repro["url"], repro["status"]) == ("PUT", "http://target.test/api/victim/tasks/7", 200)
    assert repro["body"] == '{"title":"pwned"}'  # the smaller of the two requests
    assert repro["headers"][0] == ["authorization", "Bearer <token A>"]
    token = repro["tokens"][0]
    assert (token["label"], token["claims"]["sub"], token["claims"]["id"]) == ("<token A>", "attacker", "victim")
    assert token["signed"] == "HMAC (HS256) keyed with the target's shared secret (--jwt-secret, not shown)"
    assert "<token A>" in repro["response_excerpt"], "an echoed token shows as its placeholder"


@pytest.mark.req("SPEC-FINDINGS")
def test_no_written_finding_holds_the_secret_or_a_raw_token(project):
    project.runpytest_subprocess(*PLUGINS, "tests", "--findings", "out")
    for name in ("findings.json", "findings.md", "findings.junit.xml"):
        text = (project.path / "out" / name).read_text()
        assert SECRET not in text, name
        assert "eyJhbGciOiJIUzI1NiIs" not in text, f"{name} shows a raw token"


@pytest.mark.req("SPEC-FINDINGS")
@pytest.mark.parametrize(("fail_on", "code"), [("critical", 1), ("high", 1), ("contract", 1)])
def test_the_exit_code_is_non_zero_when_a_finding_reaches_fail_on(project, fail_on, code):
    result = project.runpytest_subprocess(*PLUGINS, "tests", "--fail-on", fail_on)
    assert result.ret == code


@pytest.mark.req("SPEC-FINDINGS")
def test_the_exit_code_is_zero_when_every_finding_is_below_fail_on(project):
    result = project.runpytest_subprocess(*PLUGINS, "tests", "-k", "test_small", "--profile", "security")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # without --fail-on/--findings: pytest's own verdict
    (project.path / "tests" / "test_attacks.py").write_text(
        "import pytest\n"
        + PROJECT.replace(
            'judge.expect("AUTH-IDENTITY-CLAIM", fail("the id claim chose the caller again"), attack(0))\n', ""
        ),
        encoding="utf-8",
    )
    result = project.runpytest_subprocess(*PLUGINS, "tests", "-k", "test_small", "--fail-on", "high")
    assert result.ret == pytest.ExitCode.OK, "a medium finding does not fail a --fail-on high run"
    result.stdout.fnmatch_lines(["*[[]  medium[]] ERR-NO-5XX*"])


def _report() -> Report:
    token = HS256Signer(SECRET).sign({"sub": "u", "iat": 1, "exp": 2**31}, {})
    request = httpx.Request("GET", "http://t/api/u/tasks", headers={"Authorization": f"Bearer {token}"})
    exchange = snapshot(httpx.Response(500, request=request, text="Internal Server Error"))
    report = Report(load_catalogue(), context={"target": "http://t"})
    report.add_checks("tests/x.py::test_a", [Check("ERR-NO-5XX", False, "a 500", exchange).to_json()])
    report.add_verdicts({"ERR-NO-5XX": "failed", "ISO-MATRIX": "passed"})
    report.could_not_run["needs the key"].add("tests/x.py::test_b")
    return report


@pytest.mark.req("SPEC-FINDINGS")
def test_the_markdown_report_reads_as_a_bug_report():
    text = render_markdown(_report(), "high")
    assert "## 1. [medium] Hostile input causes a server error (ERR-NO-5XX)" in text
    assert "curl -i -X GET http://t/api/u/tasks -H 'authorization: Bearer <token A>'" in text
    assert "## Could not run" in text
    assert "needs the key" in text
    assert SECRET not in text


@pytest.mark.req("SPEC-FINDINGS")
def test_the_junit_report_has_a_case_per_judged_requirement():
    suite = ET.fromstring(render_junit(_report()))  # noqa: S314 - our own output
    cases = {case.get("name", "").split(":")[0]: case for case in suite.iter("testcase")}
    assert cases["ERR-NO-5XX"].find("failure") is not None
    assert cases["ISO-MATRIX"].find("failure") is None
    assert suite.get("failures") == "1"
    assert suite.get("skipped") == "1"
