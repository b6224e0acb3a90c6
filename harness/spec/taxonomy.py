"""specs/taxonomy.yaml as test cases: one case per (row, route), each carrying the row's requirement IDs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import yaml

from harness import SPECS
from harness.cleanup import delete_all_tasks
from harness.spec.catalogue import load_catalogue
from harness.spec.conditions import CONDITIONS, NEEDS_BODY, Probe, Route, Scene
from harness.users import ApiUser, list_all

TAXONOMY_YAML = SPECS / "taxonomy.yaml"
PROBLEM_TYPE_PREFIX = "urn:todo-api:problem:"
PROBLEM_FIELDS = ("type", "title", "status", "detail", "instance")
Suite = Literal["api", "security"]

# What an error body must never contain: internals that help an attacker.
_LEAKS = re.compile(
    r"Traceback|File \"|sqlalchemy|psycopg|SELECT |INSERT INTO|UPDATE tasks|DELETE FROM|\b[A-Z]\w*(?:Error|Exception)\b"
)


@dataclass(frozen=True)
class Case:
    suite: Suite
    route: Route
    condition: str
    status: int
    problem_type: str | None
    headers: dict[str, str]
    fields: tuple[str, ...]
    req: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.route.name}-{self.condition}-{self.status}"

    @property
    def is_error(self) -> bool:
        return self.status >= 400


@dataclass(frozen=True)
class Taxonomy:
    routes: dict[str, Route]
    cases: tuple[Case, ...]
    documented_elsewhere: frozenset[int]

    def suite(self, suite: Suite) -> list[Case]:
        return [case for case in self.cases if case.suite == suite]


def _route(name: str, data: dict[str, Any]) -> Route:
    return Route(name, data["method"], data["path"], dict(data.get("bodies", {})), data.get("invalid_field"))


def _cases(
    suite: Suite, row: dict[str, Any], routes: dict[str, Route], implied: dict[str, list[str]]
) -> Iterator[Case]:
    condition = row["when"]
    if condition not in CONDITIONS:
        raise ValueError(f"{suite} row {row}: unknown condition {condition!r} (harness/spec/conditions.py)")
    status = int(row["status"])
    req = [*row["req"], *implied.get("every_row", []), *(implied.get("error_rows", []) if status >= 400 else [])]
    unknown = load_catalogue().unknown(req)
    if unknown:
        raise ValueError(f"{suite} row {row}: unknown requirement IDs {unknown}")
    if (status >= 400) != ("type" in row):
        raise ValueError(f"{suite} row {row}: error rows need a problem `type`, success rows none")
    for name in row["routes"]:
        route = routes[name]
        if CONDITIONS[condition].body in NEEDS_BODY and not route.bodies:
            raise ValueError(f"{suite} row {row}: condition {condition!r} needs a body, route {name!r} has none")
        fields = tuple(f.replace("{invalid_field}", route.invalid_field or "?") for f in row.get("fields", []))
        yield Case(
            suite=suite,
            route=route,
            condition=condition,
            status=status,
            problem_type=row.get("type"),
            headers=dict(row.get("headers", {})),
            fields=fields,
            req=tuple(dict.fromkeys(req)),
        )


def parse_taxonomy(text: str) -> Taxonomy:
    data = yaml.safe_load(text)
    routes = {name: _route(name, spec) for name, spec in data["routes"].items()}
    implied = data.get("implied_req", {})
    cases = [
        case for suite in ("api", "security") for row in data[suite] for case in _cases(suite, row, routes, implied)
    ]
    ids = [f"{case.suite}:{case.id}" for case in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"taxonomy rows repeat (route, condition, status): {duplicates}")
    return Taxonomy(routes, tuple(cases), frozenset(int(s) for s in data.get("documented_elsewhere", {})))


@cache
def load_taxonomy(path: Path = TAXONOMY_YAML) -> Taxonomy:
    return parse_taxonomy(path.read_text(encoding="utf-8"))


def params(suite: Suite) -> list[Any]:
    """pytest parameters for one suite: each case marked with its requirement IDs, so traceability sees them."""
    return [pytest.param(case, marks=pytest.mark.req(*case.req), id=case.id) for case in load_taxonomy().suite(suite)]


# --- running a case ---


def build_scene(client: httpx.Client, make_user: Any, mint: Any) -> Scene:
    from harness.users import create_task

    owner, intruder = make_user("owner"), make_user("intruder")
    return Scene(
        owner=owner,
        owner_task=create_task(client, owner, "owner's task")["id"],
        intruder=intruder,
        intruder_task=create_task(client, intruder, "intruder's task")["id"],
        mint=mint,
    )


def clean_up(client: httpx.Client, scene: Scene) -> None:
    for user in (scene.owner, scene.intruder):
        delete_all_tasks(client, user)


def _tasks(client: httpx.Client, users: tuple[ApiUser, ...]) -> list[list[dict[str, Any]]]:
    return [sorted(list_all(client, user), key=lambda t: t["id"]) for user in users]


def run_case(case: Case, client: httpx.Client, scene: Scene) -> None:
    users = (scene.owner, scene.intruder)
    before = _tasks(client, users) if case.is_error else None
    probe = CONDITIONS[case.condition].probe(scene, case.route)
    response = client.request(
        probe.method, probe.url, headers=probe.headers, params=probe.params, content=probe.content
    )
    check_response(case, probe, response, scene.owner.id)
    if before is not None:
        assert _tasks(client, users) == before, "an error response changed someone's tasks"


def check_response(case: Case, probe: Probe, response: httpx.Response, user_id: str) -> None:
    assert response.status_code == case.status, (
        f"{probe.method} {probe.url} [{case.condition}]: expected {case.status}, got {response.status_code}: "
        f"{response.text[:500]}"
    )
    request_id = response.headers.get("x-request-id")
    assert request_id, "every response carries X-Request-ID"
    for name, pattern in case.headers.items():
        value = response.headers.get(name)
        assert value is not None, f"missing {name} header"
        assert re.search(pattern.replace("{user_id}", re.escape(user_id)), value), f"{name}: {value!r} !~ {pattern}"
    if case.is_error:
        _check_problem(case, probe, response, request_id)
    elif case.status != 204:
        assert response.headers["content-type"].startswith("application/json")


def _check_problem(case: Case, probe: Probe, response: httpx.Response, request_id: str) -> None:
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    missing = [name for name in PROBLEM_FIELDS if not body.get(name)]
    assert not missing, f"problem body lacks {missing}: {body}"
    assert body["type"] == f"{PROBLEM_TYPE_PREFIX}{case.problem_type}"
    assert body["status"] == case.status
    assert body["title"] == HTTPStatus(case.status).phrase
    assert body["instance"] == probe.url.split("?")[0]
    assert body.get("request_id") == request_id
    if case.status == 422:
        errors = body.get("errors") or []
        assert errors, "a 422 lists the failing fields"
        assert all({"field", "message", "code"} <= set(err) for err in errors)
        named = {err["field"] for err in errors}
        assert set(case.fields) <= named, f"expected failing fields {case.fields}, got {sorted(named)}"
    for secret in probe.secrets:
        assert secret not in response.text, "the response echoes the token"
    leak = _LEAKS.search(response.text)
    assert leak is None, f"the error body leaks internals: {leak.group(0)!r}"
