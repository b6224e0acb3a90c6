"""The typed TypeScript client (clients/typescript) follows the committed contract: its generated types are what
specs/openapi.json generates today, and its sources and examples type-check. Needs Node 20+ and npm, like the rest
of `tox -e interop` (not the default gate: npm ci and tsc cost it 20 s); tests/interop/test_typed_client.py drives a
live server with it."""

from __future__ import annotations

import json

import pytest

from harness.npm import pins, require_node, unpinned
from harness.typescript_client import (
    CLIENT,
    PINNED,
    REGENERATE,
    SPEC,
    TSC_TIMEOUT_SECONDS,
    generate,
    install,
    run,
    schema_drift,
)


@pytest.fixture(scope="module")
def node_client() -> None:
    require_node()
    install()


@pytest.mark.req("API-TS-CLIENT")
def test_the_client_pins_openapi_typescript_openapi_fetch_and_typescript_exactly():
    assert unpinned(CLIENT) == []
    declared = pins(CLIENT)
    assert set(PINNED) <= declared.keys()
    assert declared["typescript"].startswith("5."), "openapi-typescript 7 supports TypeScript 5 (peerDependencies)"


@pytest.mark.req("API-TS-CLIENT")
def test_the_committed_client_types_are_what_the_committed_openapi_document_generates(node_client, tmp_path):
    difference = schema_drift(generate(SPEC, tmp_path / "schema.d.ts"))
    if difference:
        pytest.fail(
            f"clients/typescript/src/schema.d.ts drifted from specs/openapi.json:\n{difference[:20000]}\n"
            f"Regenerate it and commit it: {REGENERATE}",
            pytrace=False,
        )


@pytest.mark.req("API-TS-CLIENT")
def test_a_contract_change_shows_as_a_readable_diff_of_the_client_types(node_client, tmp_path):
    spec = json.loads(SPEC.read_text())
    spec["components"]["schemas"]["TaskRead"]["properties"]["priority"] = {"type": "integer", "title": "Priority"}
    spec["components"]["schemas"]["TaskRead"]["required"].append("priority")
    changed = tmp_path / "openapi.json"
    changed.write_text(json.dumps(spec))

    difference = schema_drift(generate(changed, tmp_path / "changed.d.ts"), generate(SPEC, tmp_path / "schema.d.ts"))

    assert "+            priority: number;" in difference
    assert [line for line in difference.splitlines() if line.startswith("-") and not line.startswith("---")] == []


@pytest.mark.req("API-TS-CLIENT")
def test_the_client_and_its_examples_type_check_under_strict_tsc(node_client):
    done = run([str(CLIENT / "node_modules" / ".bin" / "tsc"), "-p", "tsconfig.json", "--noEmit"], TSC_TIMEOUT_SECONDS)
    assert done.returncode == 0, f"tsc --noEmit failed:\n{done.stdout}{done.stderr}"
    config = json.loads((CLIENT / "tsconfig.json").read_text())
    assert config["compilerOptions"]["strict"] is True
    assert {"src", "examples"} <= set(config["include"])
