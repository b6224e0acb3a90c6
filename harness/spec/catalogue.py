"""The requirement catalogue (specs/requirements.yaml) and its Markdown rendering (specs/requirements.md)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from harness import SPECS

REQUIREMENTS_YAML = SPECS / "requirements.yaml"
REQUIREMENTS_MD = SPECS / "requirements.md"
EVIDENCE_YAML = SPECS / "evidence.yaml"
RENDER_COMMAND = "python -m tools.spec render"


@dataclass(frozen=True)
class Requirement:
    id: str
    group: str
    statement: str


@dataclass(frozen=True)
class Catalogue:
    groups: dict[str, str]  # group prefix -> title, in file order
    requirements: dict[str, Requirement]  # id -> requirement, in file order

    def in_group(self, group: str) -> list[Requirement]:
        return [req for req in self.requirements.values() if req.group == group]

    def unknown(self, ids: Iterable[str]) -> list[str]:
        return sorted(set(ids) - self.requirements.keys())


def parse_catalogue(text: str) -> Catalogue:
    data = yaml.safe_load(text)
    groups: dict[str, str] = dict(data["groups"])
    requirements: dict[str, Requirement] = {}
    for req_id, statement in data["requirements"].items():
        group = req_id.split("-", 1)[0]
        if group not in groups:
            raise ValueError(f"{req_id}: group {group!r} is not declared under `groups:`")
        if not isinstance(statement, str) or not statement.strip():
            raise ValueError(f"{req_id}: the statement must be one non-empty line")
        requirements[req_id] = Requirement(req_id, group, " ".join(statement.split()))
    return Catalogue(groups, requirements)


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


def render_markdown(catalogue: Catalogue) -> str:
    lines = [
        "# Requirements",
        "",
        f"<!-- Generated from specs/requirements.yaml by `{RENDER_COMMAND}`. Do not edit by hand. -->",
        "",
        f"{len(catalogue.requirements)} requirements in {len(catalogue.groups)} groups. Tests name the IDs they cover "
        'with `@pytest.mark.req("ID")`; `tox -e spec` shows which tests prove each one.',
        "",
    ]
    for group, title in catalogue.groups.items():
        lines += [f"## {group}: {title}", "", "| ID | Statement |", "|---|---|"]
        lines += [f"| `{req.id}` | {_cell(req.statement)} |" for req in catalogue.in_group(group)]
        lines.append("")
    return "\n".join(lines)
