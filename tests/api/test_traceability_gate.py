"""The spec's own rules: the rendered catalogue is current, and the traceability gate refuses what it should.

The gate is exercised on throwaway projects run by pytester in a subprocess, with the real catalogue.
"""

from __future__ import annotations

import json

import pytest

from harness import ROOT
from harness.spec.catalogue import RENDER_COMMAND, REQUIREMENTS_MD, load_catalogue, render_markdown

PLUGIN = ("-p", "harness.spec.traceability", "-p", "no:cacheprovider")


@pytest.mark.req("SPEC-CATALOGUE")
def test_requirements_md_is_the_current_rendering_of_the_catalogue():
    if REQUIREMENTS_MD.read_text(encoding="utf-8") != render_markdown(load_catalogue()):
        pytest.fail(f"specs/requirements.md is stale: run `{RENDER_COMMAND}` and commit it", pytrace=False)


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """An empty project laid out like ours, importing the plugin from this repository."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    for suite in ("unit", "api", "security"):
        (pytester.path / "tests" / suite).mkdir(parents=True)
    return pytester


def _write(project: pytest.Pytester, relpath: str, body: str) -> None:
    path = project.path / relpath
    path.write_text("import pytest\n\n" + body, encoding="utf-8")


@pytest.mark.req("SPEC-TRACEABILITY")
@pytest.mark.parametrize(
    ("decorator", "complaint"),
    [
        ('@pytest.mark.req("API-LIST", "API-NOPE")\n', "*test_x.py::test_x: unknown requirement ID(s) API-NOPE*"),
        ("", "*test_x.py::test_x: no @pytest.mark.req*"),
    ],
    ids=["unknown-id", "no-marker"],
)
def test_a_test_without_known_requirement_ids_is_a_collection_error(project, decorator, complaint):
    _write(project, "tests/api/test_x.py", f"{decorator}def test_x():\n    pass\n")
    result = project.runpytest_subprocess(*PLUGIN, "tests")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([complaint])


@pytest.mark.req("SPEC-TRACEABILITY")
def test_a_full_run_fails_when_a_requirement_has_no_passing_test(project):
    _write(project, "tests/unit/test_z.py", '@pytest.mark.req("API-LIST")\ndef test_z():\n    pass\n')
    result = project.runpytest_subprocess(*PLUGIN, "tests")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*traceability gate:*unproven*", "API-CREATE: no test names it"])
    assert "API-LIST:" not in result.stdout.str()


@pytest.mark.req("SPEC-TRACEABILITY")
def test_a_partial_run_does_not_apply_the_completeness_gate(project):
    _write(project, "tests/api/test_z.py", '@pytest.mark.req("API-LIST")\ndef test_z():\n    pass\n')
    result = project.runpytest_subprocess(*PLUGIN, "tests/api")
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.req("SPEC-TRACEABILITY")
def test_outcomes_and_ids_reach_the_results_from_xdist_workers(project):
    _write(
        project,
        "tests/api/test_mix.py",
        '@pytest.mark.req("API-LIST")\ndef test_passes():\n    pass\n\n'
        '@pytest.mark.req("API-GET", "ERR-404")\ndef test_fails():\n    assert False\n\n'
        '@pytest.mark.req("API-DELETE")\ndef test_skips():\n    pytest.skip("not here")\n\n'
        '@pytest.mark.req("API-CREATE")\n@pytest.mark.parametrize("n", [1, 2])\ndef test_param(n):\n    pass\n',
    )
    result = project.runpytest_subprocess(*PLUGIN, "-n", "2", "tests/api", "--req-json", "out/run.json")
    result.assert_outcomes(passed=3, failed=1, skipped=1)
    tests = json.loads((project.path / "out/run.json").read_text())["tests"]
    assert {nodeid.split("::")[1]: (entry["req"], entry["outcome"]) for nodeid, entry in tests.items()} == {
        "test_passes": (["API-LIST"], "passed"),
        "test_fails": (["API-GET", "ERR-404"], "failed"),
        "test_skips": (["API-DELETE"], "skipped"),
        "test_param[1]": (["API-CREATE"], "passed"),
        "test_param[2]": (["API-CREATE"], "passed"),
    }


@pytest.mark.req("SPEC-TRACEABILITY")
def test_the_matrix_is_printed_and_written(project):
    _write(project, "tests/api/test_one.py", '@pytest.mark.req("API-LIST")\ndef test_one():\n    pass\n')
    result = project.runpytest_subprocess(*PLUGIN, "tests/api", "--req-matrix", "out")
    result.stdout.fnmatch_lines(["*requirement -> tests -> result*", "PASS *API-LIST *1/1 passed", "MISSING *API-GET*"])
    markdown = (project.path / "out/spec-matrix.md").read_text()
    assert "| `API-LIST` | seed | PASS | `tests/api/test_one.py::test_one` passed |" in markdown
    assert "<td>MISSING</td>" in (project.path / "out/spec-matrix.html").read_text()
