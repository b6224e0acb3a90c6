"""The status taxonomy for valid and invalid requests: generated from the `api` rows of specs/taxonomy.yaml."""

from __future__ import annotations

import json

import pytest

from harness.spec.openapi import SNAPSHOT
from harness.spec.taxonomy import load_taxonomy, params, run_case


@pytest.mark.parametrize("case", params("api"))
def test_request_gets_the_status_the_taxonomy_names(case, client, taxonomy_scene, judge, routes):
    run_case(case, client, taxonomy_scene, judge, routes)


def _statuses_by_route() -> dict[tuple[str, str], set[int]]:
    taxonomy = load_taxonomy()
    out: dict[tuple[str, str], set[int]] = {}
    for case in taxonomy.cases:
        out.setdefault((case.route.method, case.route.path), set()).add(case.status)
    return out


def _documented(method: str, path: str) -> set[int] | None:
    operation = json.loads(SNAPSHOT.read_text())["paths"].get(path, {}).get(method.lower())
    return None if operation is None else {int(status) for status in operation["responses"]}


@pytest.mark.req("SPEC-TAXONOMY", "API-OPENAPI")
@pytest.mark.parametrize(("method", "path"), sorted(_statuses_by_route()), ids=lambda part: part)
def test_taxonomy_rows_and_openapi_responses_name_the_same_statuses(method, path):
    in_taxonomy = _statuses_by_route()[(method, path)]
    documented = _documented(method, path)
    if documented is None:  # a method the path does not serve: the only answer is 405
        assert in_taxonomy == {405}
        return
    assert in_taxonomy == documented - load_taxonomy().documented_elsewhere
