"""The typed TypeScript client in clients/typescript: installing it from its lockfile, regenerating its types from an
OpenAPI document with the package's own `generate` script, and diffing them against the committed ones (Node and npm:
harness/npm.py)."""

from __future__ import annotations

import difflib
import json
import shlex
import subprocess
from pathlib import Path

from harness import ROOT, npm

CLIENT = ROOT / "clients" / "typescript"
SCHEMA = CLIENT / "src" / "schema.d.ts"
SPEC = ROOT / "specs" / "openapi.json"
GENERATED_AS = "src/schema.d.ts"
REGENERATE = "cd clients/typescript && npm ci && npm run generate"
GENERATE_TIMEOUT_SECONDS = 60
TSC_TIMEOUT_SECONDS = 180
PINNED = ("openapi-fetch", "openapi-typescript", "typescript")


def install() -> None:
    npm.install(CLIENT)


def run(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return npm.run(CLIENT, command, timeout)


def generate_command(spec: Path, output: Path) -> list[str]:
    """package.json's `generate` script, reading `spec` and writing `output`: the test runs what developers run."""
    script = shlex.split(json.loads((CLIENT / "package.json").read_text())["scripts"]["generate"])
    assert script[0] == "openapi-typescript", script
    assert script[-2:] == ["-o", GENERATED_AS], script
    spec_arguments = [i for i, argument in enumerate(script) if argument.endswith("openapi.json")]
    assert len(spec_arguments) == 1, script
    assert (CLIENT / script[spec_arguments[0]]).resolve() == SPEC, script
    script[spec_arguments[0]] = str(spec)
    return [str(CLIENT / "node_modules" / ".bin" / script[0]), *script[1:-1], str(output)]


def generate(spec: Path, output: Path) -> str:
    done = run(generate_command(spec, output), GENERATE_TIMEOUT_SECONDS)
    assert done.returncode == 0, f"openapi-typescript failed:\n{done.stdout}{done.stderr}"
    return output.read_text()


def schema_drift(generated: str, committed: str | None = None) -> str:
    """A unified diff from the committed src/schema.d.ts (or `committed`) to `generated`; empty when equal."""
    before = SCHEMA.read_text() if committed is None else committed
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            generated.splitlines(keepends=True),
            fromfile="clients/typescript/src/schema.d.ts (committed)",
            tofile="generated from specs/openapi.json",
        )
    )
