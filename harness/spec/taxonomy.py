"""specs/taxonomy.yaml as test cases: one case per (row, route), each carrying the requirement IDs it judges.

A row pins this backend's exact answer (reference, plus the row's own IDs); the row's condition says what any correct
implementation must do with the same request (security and seed, harness/spec/conditions.py). Both are judged, the
security checks first (harness/judgements.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import yaml

from harness import SPECS, checks
from harness.discovery import RouteShapes
from harness.judgements import (
    ANY_4XX,
    FOREIGN_REQS,
    HOSTILE_REQS,
    REFUSAL_REQS,
    Watch,
    foreign_reach,
    hostile_input,
    refused_token,
    served,
)
from harness.scenes import Scene
from harness.spec.catalogue import load_catalogue
from harness.spec.conditions import CONDITIONS, NEEDS_BODY, Condition, Route
from harness.users import ApiUser
from harness.verdicts import PASS, Judge, all_of, fail

TAXONOMY_YAML = SPECS / "taxonomy.yaml"
Suite = Literal["api", "security"]
# The requirements each kind of probe is judged against (harness/judgements.py), besides the row's own.
_JUDGED = {"refused": REFUSAL_REQS, "foreign": FOREIGN_REQS, "invalid": HOSTILE_REQS[:-1]}


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

    @property
    def when(self) -> Condition:
        return CONDITIONS[self.condition]

    @property
    def must_refuse(self) -> bool:
        return self.when.must_refuse and self.route.served


@dataclass(frozen=True)
class Taxonomy:
    routes: dict[str, Route]
    cases: tuple[Case, ...]
    documented_elsewhere: frozenset[int]

    def suite(self, suite: Suite) -> list[Case]:
        return [case for case in self.cases if case.suite == suite]


def _route(name: str, data: dict[str, Any]) -> Route:
    bodies = dict(data.get("bodies", {}))
    return Route(name, data["method"], data["path"], bodies, data.get("invalid_field"), data.get("served", True))


def _judged(condition: Condition, status: int, served: bool) -> list[str]:
    """The security and seed requirements a case judges through its condition."""
    if status < 400:
        return ["API-ROUTES"] if status < 300 else []  # a 304 is this backend's answer to a condition it honours
    judged = [*([condition.guard] if condition.guard else []), *_JUDGED[condition.kind]]
    if condition.kind == "invalid" and condition.must_refuse and served:
        judged.append("ERR-STATUS-CLASSES")
    return judged


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
            req=tuple(dict.fromkeys([*req, *_judged(CONDITIONS[condition], status, route.served)])),
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


def run_case(case: Case, client: httpx.Client, scene: Scene, judge: Judge, routes: RouteShapes) -> None:
    """Send the case's request; judge what any implementation must do (security, seed), then this backend's row."""
    condition = case.when
    probe = condition.probe(
        scene, case.route, scene.owner.user.tasks_url(), routes.id_type, routes.paths.complete_suffix
    )
    watch = Watch.of(client, scene.owner.user, scene.intruder.user)
    response = client.request(
        probe.method, probe.url, headers=probe.headers, params=probe.params, content=probe.content
    )
    if case.status < 300:
        served(judge, "API-ROUTES", response)
    elif not case.is_error:
        pass  # a 304 row: any implementation may ignore the condition and serve the task (the row judges ours)
    elif condition.kind == "refused":
        seed = ANY_4XX if condition.seed_any_4xx else (401, 403)
        assert condition.guard is not None
        refused_token(judge, condition.guard, response, watch, token=probe.token, seed=seed)
    elif condition.kind == "foreign":
        others = [o for o in (scene.owner, scene.intruder) if o is not probe.caller]
        private = [value for other in others for value in other.private]
        seed = ANY_4XX if condition.seed_any_4xx else (403, 404)
        foreign_reach(judge, response, watch, private=private, token=probe.token, seed=seed)
    else:
        hostile_input(judge, response, watch, token=probe.token, must_refuse=case.must_refuse)
    _judge_row(case, judge, response, scene.owner.user.id)


def _judge_row(case: Case, judge: Judge, response: httpx.Response, user_id: str) -> None:
    """This backend's exact answer, as the row pins it; recorded against the row's own requirements."""
    row_reqs = [r for r in case.req if load_catalogue().layer_of(r) == "reference"]
    verdicts = [checks.status(response, case.status)]
    for name, pattern in case.headers.items():
        value = response.headers.get(name)
        ok = value is not None and re.search(pattern.replace("{user_id}", re.escape(user_id)), value)
        verdicts.append(PASS if ok else fail(f"{name}: {value!r} !~ {pattern}"))
    if not case.is_error and case.status not in (204, 304):
        verdicts.append(checks.json_content(response))
    if case.status == 422 and case.fields:
        named = checks.field_errors(response)
        missing = set(case.fields) - named
        verdicts.append(fail(f"failing fields {sorted(named)} lack {sorted(missing)}") if missing else PASS)
    exact = all_of(*verdicts)
    for req in row_reqs:
        if req == "ERR-PROBLEM-SHAPE":
            judge.expect(req, checks.problem(response, case.status, case.problem_type), response)
        elif req == "ERR-REQUEST-ID":
            judge.expect(req, checks.request_id(response), response)
        else:
            judge.expect(req, exact, response)


@dataclass(frozen=True)
class Sweep:
    """One task route as a sweep over every route calls it: with its valid body, or none (`toggle`)."""

    route: Route
    body: Any | None

    @property
    def on_task(self) -> bool:
        return "{task_id}" in self.route.path

    def call(
        self,
        client: httpx.Client,
        token_of: ApiUser,
        path_of: ApiUser,
        task_id: str,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        url = self.route.url(path_of.tasks_url(), task_id, path_of.paths.complete_suffix)
        body = {} if self.body is None else {"json": self.body}
        return client.request(self.route.method, url, headers={**token_of.headers, **(headers or {})}, **body)


def sweep_routes(on_task: bool | None = None) -> dict[str, Sweep]:
    """The seed's routes from the taxonomy's one route table, plus completion without a body (a toggle)."""
    routes = load_taxonomy().routes
    sweeps = {name: Sweep(route, route.bodies.get("valid")) for name, route in routes.items() if route.served}
    sweeps["toggle"] = Sweep(routes["complete"], None)
    return {name: sweep for name, sweep in sweeps.items() if on_task is None or sweep.on_task == on_task}
