"""Findings: one per violated requirement, merged across the tests that showed it, each with a minimal reproduction a
reviewer can file as a bug as it stands. Written as findings.json, findings.md and JUnit XML (`--findings DIR`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from harness.exchange import curl, size
from harness.spec.catalogue import Catalogue, Requirement

# --fail-on: a finding at or above this rank fails the run. Seed and reference findings rank as "contract".
SEVERITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1, "contract": 0}
FAIL_ON_CHOICES = tuple(SEVERITY_RANK)
MAX_OBSERVATIONS = 8


def severity_of(req: Requirement) -> str:
    return req.severity or "contract"


@dataclass
class Finding:
    requirement: Requirement
    tests: set[str] = field(default_factory=set)
    checks: list[dict[str, Any]] = field(default_factory=list)  # failed checks (harness/verdicts.py Check.to_json)

    @property
    def severity(self) -> str:
        return severity_of(self.requirement)

    def observations(self) -> list[str]:
        return list(dict.fromkeys(check["message"] for check in self.checks))[:MAX_OBSERVATIONS]

    def reproduction(self) -> dict[str, Any] | None:
        """The smallest request that showed the violation."""
        shown = [check["exchange"] for check in self.checks if check.get("exchange")]
        if not shown:
            return None
        exchange = min(shown, key=size)
        return {
            **exchange["request"],
            "tokens": exchange["tokens"],
            "status": exchange["response"]["status"],
            "response_headers": exchange["response"]["headers"],
            "response_excerpt": exchange["response"]["body"],
            "curl": curl(exchange),
        }

    def to_json(self) -> dict[str, Any]:
        req = self.requirement
        return {
            "requirement": req.id,
            "layer": req.layer,
            "severity": self.severity,
            "title": req.bug_title,
            "statement": req.statement,
            "tests": sorted(self.tests),
            "observed": self.observations(),
            "reproduction": self.reproduction(),
        }


@dataclass
class Report:
    """Everything a run judged: findings, checks that could not run, harness errors and the cleanup record."""

    catalogue: Catalogue
    context: dict[str, str] = field(default_factory=dict)  # target, profile, credentials, routes
    findings: dict[str, Finding] = field(default_factory=dict)
    could_not_run: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # reason -> tests
    errors: dict[str, str] = field(default_factory=dict)  # nodeid -> first line of the error
    judged: dict[str, str] = field(default_factory=dict)  # requirement -> worst verdict seen (passed|failed)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cleanup: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add_checks(self, nodeid: str, checks: list[dict[str, Any]]) -> None:
        for check in checks:
            req = self.catalogue.requirements[check["requirement"]]
            finding = self.findings.setdefault(req.id, Finding(req))
            finding.tests.add(nodeid)
            finding.checks.append(check)

    def add_verdicts(self, verdicts: dict[str, str]) -> None:
        for req_id, outcome in verdicts.items():
            if self.judged.get(req_id) != "failed":
                self.judged[req_id] = outcome

    def ordered(self) -> list[Finding]:
        return sorted(self.findings.values(), key=lambda f: (-SEVERITY_RANK[f.severity], f.requirement.id))

    def at_or_above(self, fail_on: str) -> list[Finding]:
        return [f for f in self.ordered() if SEVERITY_RANK[f.severity] >= SEVERITY_RANK[fail_on]]

    def to_json(self) -> list[dict[str, Any]]:
        return [finding.to_json() for finding in self.ordered()]


def _fence(text: str) -> str:
    return "```\n" + text.replace("```", "` ` `") + "\n```"


def _token_lines(tokens: list[dict[str, Any]]) -> list[str]:
    lines = []
    for token in tokens:
        lines += [
            f"- `{token['label']}`: {token['signed']}",
            f"  - header: `{json.dumps(token['header'], sort_keys=True)}`",
            f"  - claims: `{json.dumps(token['claims'], sort_keys=True, default=str)}`",
        ]
    return lines


def _finding_markdown(number: int, finding: Finding) -> list[str]:
    data = finding.to_json()
    lines = [
        f"## {number}. [{finding.severity}] {data['title']} ({data['requirement']})",
        "",
        f"**Requirement** ({data['layer']}): {data['statement']}",
        "",
        "**Observed:**",
        "",
        *[f"- {message}" for message in data["observed"]],
        "",
    ]
    repro = data["reproduction"]
    if repro:
        request = [f"{repro['method']} {repro['url']}", *[f"{n}: {v}" for n, v in repro["headers"]]]
        if repro["body"] is not None:
            request += ["", repro["body"]]
        lines += ["**Minimal reproduction:**", "", _fence("\n".join(request)), ""]
        if repro["tokens"]:
            lines += [
                "Tokens in it (shown by their content; make them as described):",
                "",
                *_token_lines(repro["tokens"]),
            ]
            lines.append("")
        headers = "".join(f"\n{name}: {value}" for name, value in repro["response_headers"].items())
        lines += [
            f"**Answer:** {repro['status']}",
            "",
            _fence(f"HTTP {repro['status']}{headers}\n\n{repro['response_excerpt']}"),
            "",
            "As a command:",
            "",
            _fence(repro["curl"]),
            "",
        ]
    lines += [f"**Shown by** {len(data['tests'])} test(s):", "", *[f"- `{t}`" for t in data["tests"][:20]]]
    if len(data["tests"]) > 20:
        lines.append(f"- ... and {len(data['tests']) - 20} more")
    return [*lines, ""]


def render_markdown(report: Report, fail_on: str) -> str:
    findings = report.ordered()
    by_severity: dict[str, int] = defaultdict(int)
    for finding in findings:
        by_severity[finding.severity] += 1
    counts = ", ".join(f"{n} {sev}" for sev, n in sorted(by_severity.items(), key=lambda i: -SEVERITY_RANK[i[0]]))
    lines = [
        "# Findings",
        "",
        *[f"- **{name}**: {value}" for name, value in report.context.items()],
        f"- **tests**: {', '.join(f'{n} {k}' for k, n in sorted(report.counts.items())) or 'none'}",
        f"- **requirements judged**: {len(report.judged)}, violated: {len(findings)} ({counts or 'none'})",
        f"- **fails the run** (--fail-on {fail_on}): {len(report.at_or_above(fail_on))}",
        "",
        "Each finding is one violated requirement (specs/requirements.md), merged across the tests that showed it. "
        "Severity comes from the requirement; `contract` marks a seed or reference deviation, not a security "
        "defect. Tokens appear by their header and claims and how they were signed; secrets never appear.",
        "",
    ]
    if not findings:
        lines += ["No requirement judged in this profile was violated.", ""]
    for number, finding in enumerate(findings, 1):
        lines += _finding_markdown(number, finding)
    if report.could_not_run:
        lines += ["## Could not run", "", "Checks the target could not set up; neither passes nor failures.", ""]
        for reason, tests in sorted(report.could_not_run.items(), key=lambda i: -len(i[1])):
            lines.append(f"- {reason} ({len(tests)} test(s), e.g. `{sorted(tests)[0]}`)")
        lines.append("")
    if report.errors:
        lines += ["## Harness errors", "", "Tests that broke for a reason that is not a verdict (look at the log):", ""]
        lines += [f"- `{nodeid}`: {error}" for nodeid, error in sorted(report.errors.items())]
        lines.append("")
    if report.cleanup:
        lines += ["## Cleanup", "", ", ".join(f"{k}: {v}" for k, v in sorted(report.cleanup.items())), ""]
    return "\n".join(lines)


def render_junit(report: Report) -> str:
    """One test case per requirement the run judged: a failure per finding, a skip when it could only not run."""
    suite = ET.Element("testsuite", name="todo-api spec findings")
    failures = skipped = 0
    judged_or_found = set(report.judged) | set(report.findings)
    for req_id in sorted(judged_or_found):
        req = report.catalogue.requirements[req_id]
        case = ET.SubElement(suite, "testcase", classname=f"findings.{req.layer}", name=f"{req_id}: {req.statement}")
        finding = report.findings.get(req_id)
        if finding is not None:
            failures += 1
            data = finding.to_json()
            failure = ET.SubElement(case, "failure", message=f"[{finding.severity}] {data['title']}")
            failure.text = json.dumps(data, indent=1, default=str)
    for reason, tests in sorted(report.could_not_run.items()):
        skipped += 1
        case = ET.SubElement(suite, "testcase", classname="findings.could-not-run", name=reason)
        ET.SubElement(case, "skipped", message=f"{len(tests)} test(s): {reason}")
    for nodeid, error in sorted(report.errors.items()):
        case = ET.SubElement(suite, "testcase", classname="findings.harness-error", name=nodeid)
        ET.SubElement(case, "error", message=error)
    total = len(judged_or_found) + len(report.could_not_run) + len(report.errors)
    suite.set("tests", str(total))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("errors", str(len(report.errors)))
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write(report: Report, directory: Path, fail_on: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "findings.json": json.dumps(report.to_json(), indent=2, default=str) + "\n",
        "findings.md": render_markdown(report, fail_on),
        "findings.junit.xml": render_junit(report),
    }
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return [directory / name for name in files]
