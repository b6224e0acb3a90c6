"""The fuzzer's argued exceptions (specs/fuzzing.md) live in schemathesis.toml, where schemathesis itself reads them:
nothing there may do more than widen positive-data acceptance by the statuses the spec argues."""

from __future__ import annotations

import tomllib

import pytest

from harness import ROOT
from harness.spec import openapi
from tools import fuzz

# The only statuses a schema-valid request may get beyond schemathesis's defaults, and why (specs/fuzzing.md).
ARGUED = {
    "list_tasks": {"422"},  # a generated cursor the API never issued
    "create_task": {"409", "422"},  # an Idempotency-Key in flight, or reused with another body
    "replace_task": {"412"},  # a generated If-Match tag that is not the task's current one
    "complete_task": {"412"},
    "delete_task": {"412"},
}
ALWAYS_EXPECTED = {"2xx", "401", "403", "404"}


def _committed():
    return tomllib.loads((ROOT / "schemathesis.toml").read_text())["operations"]


@pytest.mark.req("API-FUZZ-EXCEPTIONS")
def test_tox_fuzz_uses_the_committed_exceptions_as_they_are():
    assert fuzz.OWNER_EXCEPTIONS == ROOT / "schemathesis.toml"
    assert tomllib.loads((ROOT / "schemathesis.toml").read_text()).keys() == {"operations"}


@pytest.mark.req("API-FUZZ-EXCEPTIONS")
def test_each_exception_only_widens_positive_data_acceptance_by_an_argued_status():
    widened: dict[str, set[str]] = {}
    for operation in _committed():
        assert operation.keys() == {"include-operation-id", "checks"}, operation
        checks = operation["checks"]
        assert checks.keys() == {"positive_data_acceptance"}, operation
        assert checks["positive_data_acceptance"].keys() == {"expected-statuses"}, operation
        ids = operation["include-operation-id"]
        for operation_id in [ids] if isinstance(ids, str) else ids:
            statuses = set(checks["positive_data_acceptance"]["expected-statuses"])
            widened[operation_id] = statuses - ALWAYS_EXPECTED
    assert widened == ARGUED


@pytest.mark.req("API-FUZZ-EXCEPTIONS")
def test_every_excepted_operation_is_in_the_contract():
    paths = openapi.reference_schema()["paths"]
    operation_ids = {operation["operationId"] for item in paths.values() for operation in item.values()}
    assert ARGUED.keys() <= operation_ids
