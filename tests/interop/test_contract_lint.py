"""Outside linters agree with the contract: specs/openapi.json passes Redocly's recommended rules (only the exceptions
argued in .redocly.lint-ignore.yaml) and Spectral's spectral:oas rules, with nothing left over, and both would see a
defect. Needs Node 20+ and npm, like the rest of `tox -e interop`."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from harness import contract_lint
from harness.npm import install, require_node, unpinned
from harness.spec import openapi

ARGUED_EXCEPTIONS = 3  # .redocly.lint-ignore.yaml: info-license, and no 4xx on the two health probes


@pytest.fixture(scope="module")
def linters() -> None:
    require_node()
    install(contract_lint.PROJECT)


def _write(schema: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(schema))
    return path


def _rules(report: dict[str, Any]) -> set[str]:
    return {problem["ruleId"] for problem in report["problems"]}


@pytest.mark.req("API-OPENAPI-LINT")
def test_the_linters_are_pinned_exactly_with_a_lockfile():
    assert unpinned(contract_lint.PROJECT) == []


@pytest.mark.req("API-OPENAPI-LINT")
def test_the_contract_passes_redocly_with_only_the_argued_exceptions(linters):
    report = contract_lint.redocly()
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": ARGUED_EXCEPTIONS}, report["problems"]


@pytest.mark.req("API-OPENAPI-LINT")
def test_the_contract_passes_spectral_with_no_finding(linters):
    assert contract_lint.spectral() == []


@pytest.mark.req("API-OPENAPI-LINT")
def test_redocly_reports_a_public_route_that_does_not_say_it_is_public(linters, tmp_path):
    schema = copy.deepcopy(openapi.reference_schema())
    del schema["paths"]["/healthz"]["get"]["security"]
    report = contract_lint.redocly(_write(schema, tmp_path / "openapi.json"))
    assert "security-defined" in _rules(report)
    assert report["totals"]["errors"] >= 1


@pytest.mark.req("API-OPENAPI-LINT")
def test_spectral_reports_an_operation_without_a_description(linters, tmp_path):
    schema = copy.deepcopy(openapi.reference_schema())
    del schema["paths"]["/api/{user_id}/tasks"]["post"]["description"]
    findings = contract_lint.spectral(_write(schema, tmp_path / "openapi.json"))
    assert [(finding["code"], finding["path"]) for finding in findings] == [
        ("operation-description", ["paths", "/api/{user_id}/tasks", "post"])
    ]
