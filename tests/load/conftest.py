"""Load-run fixtures: a real server (uvicorn on loopback, secret-mode auth, the worker's PostgreSQL) and the runner
started as a subprocess, exactly as `tox -e load` starts it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from backend.app import create_app
from harness.inprocess import make_settings
from harness.net import LiveServer

ROOT = Path(__file__).resolve().parents[2]
SECRET = "load-test-secret-0123456789abcdef0123456789"


@dataclass
class RunResult:
    code: int
    output: str
    summary: dict[str, Any]


Runner = Callable[..., RunResult]


@pytest.fixture
def load_secret() -> str:
    """The HS256 secret the live server trusts (the runner gets it as --jwt-secret)."""
    return SECRET


@pytest.fixture
def live_url(worker_database_url: str) -> Iterator[str]:
    app = create_app(make_settings(worker_database_url, BETTER_AUTH_SECRET=SECRET))
    with LiveServer(app) as server:
        yield server.url


@pytest.fixture
def run_profile(live_url: str, tmp_path: Path) -> Runner:
    """Run a short smoke profile against the live server; return its exit code, output and summary.json.
    `credentials` are the runner's credential options (default: tokens minted with the server's secret)."""

    def run(
        *extra: str, credentials: Sequence[str] = ("--token-source", "secret", "--jwt-secret", SECRET)
    ) -> RunResult:
        command = [sys.executable, "-m", "loadtests.run", "--host", live_url, *credentials]
        command += ["--profile", "smoke", "--duration", "10", "--users", "3"]
        command += ["--think-time", "0.05,0.2", "--seed-tasks", "22", "--report-dir", str(tmp_path), *extra]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
        summary_path = tmp_path / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        return RunResult(done.returncode, done.stdout + done.stderr, summary)

    return run
