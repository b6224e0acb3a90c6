"""The requirement catalogue (specs/requirements.yaml) and its Markdown rendering (specs/requirements.md).

Each requirement has a layer (security, seed or reference); security requirements also carry a severity and the
title of the bug a reviewer files when it is violated. A profile judges a set of layers (see PROFILES).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from harness import SPECS

REQUIREMENTS_YAML = SPECS / "requirements.yaml"
REQUIREMENTS_MD = SPECS / "requirements.md"
EVIDENCE_YAML = SPECS / "evidence.yaml"
RENDER_COMMAND = "python -m tools.spec render"

LAYERS = ("security", "seed", "reference")
SEVERITIES = ("critical", "high", "medium", "low")
# A profile judges its own layer and every layer below it: the seed contract includes the security invariants, and
# the reference (this backend's own gate) judges everything.
PROFILES: dict[str, frozenset[str]] = {
    "security": frozenset({"security"}),
    "seed": frozenset({"security", "seed"}),
    "reference": frozenset(LAYERS),
}
DEFAULT_PROFILE = "reference"


@dataclass(frozen=True)
class Requirement:
    id: str
    group: str
    layer: str
    statement: str
    severity: str | None = None  # security requirements only
    finding: str | None = None  # the bug title when violated (security requirements only)

    @property
    def bug_title(self) -> str:
        return self.finding or f"Contract deviation: {self.statement}"


@dataclass(frozen=True)
class Catalogue:
    groups: dict[str, str]  # group prefix -> title, in file order
    requirements: dict[str, Requirement]  # id -> requirement, in file order
    layers: dict[str, str]  # layer -> what it means
    retired: dict[str, str]  # id -> why it is gone (never reuse it)

    def in_group(self, group: str) -> list[Requirement]:
        return [req for req in self.requirements.values() if req.group == group]

    def unknown(self, ids: Iterable[str]) -> list[str]:
        return sorted(set(ids) - self.requirements.keys())

    def layer_of(self, req_id: str) -> str:
        return self.requirements[req_id].layer


def _requirement(req_id: str, group: str, raw: Any) -> Requirement:
    if not isinstance(raw, dict):
        raise ValueError(f"{req_id}: expected a mapping with layer and statement")
    unknown_keys = set(raw) - {"layer", "statement", "severity", "finding"}
    if unknown_keys:
        raise ValueError(f"{req_id}: unknown keys {sorted(unknown_keys)}")
    statement, layer = raw.get("statement"), raw.get("layer")
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError(f"{req_id}: the statement must be one non-empty line")
    if layer not in LAYERS:
        raise ValueError(f"{req_id}: layer must be one of {', '.join(LAYERS)}, not {layer!r}")
    severity, finding = raw.get("severity"), raw.get("finding")
    if layer == "security":
        if severity not in SEVERITIES:
            raise ValueError(f"{req_id}: a security requirement needs a severity ({', '.join(SEVERITIES)})")
        if not isinstance(finding, str) or not finding.strip():
            raise ValueError(f"{req_id}: a security requirement needs a finding title")
    elif severity is not None or finding is not None:
        raise ValueError(f"{req_id}: only security requirements carry a severity and a finding title")
    return Requirement(req_id, group, layer, " ".join(statement.split()), severity, finding)


def parse_catalogue(text: str) -> Catalogue:
    data = yaml.safe_load(text)
    groups: dict[str, str] = dict(data["groups"])
    retired: dict[str, str] = dict(data.get("retired") or {})
    requirements: dict[str, Requirement] = {}
    for req_id, raw in data["requirements"].items():
        group = req_id.split("-", 1)[0]
        if group not in groups:
            raise ValueError(f"{req_id}: group {group!r} is not declared under `groups:`")
        if req_id in retired:
            raise ValueError(f"{req_id} is retired ({retired[req_id]}): choose a new ID")
        requirements[req_id] = _requirement(req_id, group, raw)
    layers = {name: " ".join(str(text).split()) for name, text in (data.get("layers") or {}).items()}
    if set(layers) != set(LAYERS):
        raise ValueError(f"`layers:` must describe exactly {', '.join(LAYERS)}")
    return Catalogue(groups, requirements, layers, retired)


@cache
def load_catalogue(path: Path = REQUIREMENTS_YAML) -> Catalogue:
    return parse_catalogue(path.read_text(encoding="utf-8"))


@cache
def load_evidence(path: Path = EVIDENCE_YAML) -> dict[str, list[str]]:
    """Requirement id -> files outside pytest that prove it (see specs/evidence.yaml)."""
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(req_id): [str(p) for p in paths] for req_id, paths in data.items()}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _kind(req: Requirement) -> str:
    return f"security, {req.severity}" if req.severity else req.layer


def render_markdown(catalogue: Catalogue) -> str:
    counts = {layer: sum(r.layer == layer for r in catalogue.requirements.values()) for layer in LAYERS}
    lines = [
        "# Requirements",
        "",
        f"<!-- Generated from specs/requirements.yaml by `{RENDER_COMMAND}`. Do not edit by hand. -->",
        "",
        f"{len(catalogue.requirements)} requirements in {len(catalogue.groups)} groups: "
        + ", ".join(f"{n} {layer}" for layer, n in counts.items())
        + '. Tests name the IDs they cover with `@pytest.mark.req("ID")`; `tox -e spec` shows which tests prove '
        "each one, and `--profile` chooses which layers a run judges (specs/profiles.md).",
        "",
        "| layer | what it judges |",
        "|---|---|",
        *[f"| `{layer}` | {_cell(text)} |" for layer, text in catalogue.layers.items()],
        "",
    ]
    for group, title in catalogue.groups.items():
        lines += [f"## {group}: {title}", "", "| ID | Layer | Statement | Finding when violated |", "|---|---|---|---|"]
        lines += [
            f"| `{req.id}` | {_kind(req)} | {_cell(req.statement)} | {_cell(req.finding or '')} |"
            for req in catalogue.in_group(group)
        ]
        lines.append("")
    if catalogue.retired:
        lines += ["## Retired IDs (never reused)", ""]
        lines += [f"- `{req_id}`: {_cell(why)}" for req_id, why in catalogue.retired.items()]
        lines.append("")
    return "\n".join(lines)
