"""The typed TypeScript client in clients/typescript: installing it from its lockfile, regenerating its types from an
OpenAPI document with the package's own `generate` script, and diffing them against the committed ones. Node and npm
are needed; without them the callers skip locally and fail under CI=true (CI must run them, not skip them)."""

from __future__ import annotations

import difflib
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness import ROOT

CLIENT = ROOT / "clients" / "typescript"
SCHEMA = CLIENT / "src" / "schema.d.ts"
SPEC = ROOT / "specs" / "openapi.json"
GENERATED_AS = "src/schema.d.ts"
REGENERATE = "cd clients/typescript && npm ci && npm run generate"
NPM_CI_TIMEOUT_SECONDS = 300
GENERATE_TIMEOUT_SECONDS = 60
TSC_TIMEOUT_SECONDS = 180
PINNED = ("openapi-fetch", "openapi-typescript", "typescript")


def node_missing_reason() -> str | None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not installed: the TypeScript client's tests need Node 20+" if missing else None


def require_node() -> None:
    """Skip without node and npm, except under CI, which must run these tests rather than skip them."""
    reason = node_missing_reason()
    if reason and os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run them, not skip them)", pytrace=False)
    if reason:
        pytest.skip(reason)


@contextmanager
def _install_lock() -> Iterator[None]:
    """One `npm ci` at a time on this checkout, across xdist workers and tox envs."""
    key = hashlib.sha256(str(CLIENT).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"todo-api-ts-client-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def install() -> None:
    """`npm ci` from the committed lockfile, unless node_modules already matches it."""
    installed = CLIENT / "node_modules" / ".package-lock.json"
    lockfile = CLIENT / "package-lock.json"
    with _install_lock():
        if installed.exists() and installed.stat().st_mtime >= lockfile.stat().st_mtime:
            return
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=CLIENT,
            check=True,
            timeout=NPM_CI_TIMEOUT_SECONDS,
        )


def run(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=CLIENT, capture_output=True, text=True, timeout=timeout, check=False)


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
