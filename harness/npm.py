"""Node projects the suite runs (the typed client in clients/typescript, the contract linters in tools/contract-lint):
installing one from its lockfile, running its tools, and checking its pins. Without node and npm the callers skip
locally and fail under CI=true (CI must run them, not skip them)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

NPM_CI_TIMEOUT_SECONDS = 300


def node_missing_reason() -> str | None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not installed: these tests need Node 20+" if missing else None


def require_node() -> None:
    """Skip without node and npm, except under CI, which must run these tests rather than skip them."""
    reason = node_missing_reason()
    if reason and os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run them, not skip them)", pytrace=False)
    if reason:
        pytest.skip(reason)


@contextmanager
def _install_lock(project: Path) -> Iterator[None]:
    """One `npm ci` at a time per project, across xdist workers and tox envs."""
    key = hashlib.sha256(str(project).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"todo-api-npm-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def install(project: Path) -> None:
    """`npm ci` from the committed lockfile, unless node_modules already matches it."""
    installed = project / "node_modules" / ".package-lock.json"
    lockfile = project / "package-lock.json"
    with _install_lock(project):
        if installed.exists() and installed.stat().st_mtime >= lockfile.stat().st_mtime:
            return
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=project,
            check=True,
            timeout=NPM_CI_TIMEOUT_SECONDS,
        )


def run(project: Path, command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=timeout, check=False)


def pins(project: Path) -> dict[str, str]:
    """The project's direct dependencies and their versions, as package.json declares them."""
    manifest = json.loads((project / "package.json").read_text())
    return {**manifest.get("dependencies", {}), **manifest.get("devDependencies", {})}


def unpinned(project: Path) -> list[str]:
    """Every direct dependency that is not pinned to one exact version that package-lock.json agrees with."""
    locked = json.loads((project / "package-lock.json").read_text())["packages"]
    problems = []
    for name, version in pins(project).items():
        if not version[:1].isdigit():
            problems.append(f"{name} is pinned to a range ({version}), not an exact version")
        elif locked.get(f"node_modules/{name}", {}).get("version") != version:
            problems.append(f"package-lock.json disagrees with package.json on {name}")
    return problems
