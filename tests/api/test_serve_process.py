"""`todo-api serve` as a real process: on the embedded PostgreSQL, stopping it stops that PostgreSQL too, and in
JSON mode everything it writes is a JSON object per line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import psutil
import pytest

from harness.net import free_port, wait_ready


def _postgres_of(data_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "postgres" and str(data_dir) in " ".join(process.info["cmdline"] or ()):
            found.append(process)
    return found


@contextmanager
def _serving(
    data_dir: Path, stderr: IO[bytes] | int = subprocess.DEVNULL, unset: tuple[str, ...] = (), **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`serve` on the embedded PostgreSQL in `data_dir`, ready; killed (and its PostgreSQL stopped) if still running."""
    port = free_port()
    scrubbed = ("DATABASE_URL", "BETTER_AUTH_", "TODO_", *unset)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(scrubbed)}
    environ |= {"TODO_DATA_DIR": str(data_dir), **env}
    server = subprocess.Popen(
        # Loopback by name, not by serve's default: whatever the default becomes, this test binds no other interface.
        [sys.executable, "-m", "backend.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}", server, timeout=60)
        yield server
    finally:
        if server.poll() is None:
            server.kill()
        for leftover in _postgres_of(data_dir):  # only after a failure: leave no server behind
            leftover.terminate()


def _stop(server: subprocess.Popen[bytes], data_dir: Path) -> None:
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    deadline = time.monotonic() + 10
    while _postgres_of(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)


@pytest.mark.inprocess
@pytest.mark.req("DB-EMBEDDED", "OPS-CLI")
def test_sigterm_stops_the_server_and_the_embedded_postgres_it_started(tmp_path):
    with _serving(tmp_path) as server:
        assert _postgres_of(tmp_path), "the embedded PostgreSQL should run in the data directory"
        _stop(server, tmp_path)
        assert _postgres_of(tmp_path) == []


@pytest.mark.inprocess
@pytest.mark.req("OPS-LOG-FORMAT")
def test_in_json_mode_every_line_serve_writes_from_start_to_stop_is_a_json_object(tmp_path):
    # Without XDG_RUNTIME_DIR (root, containers, CI) a library under the embedded PostgreSQL warns as serve starts.
    log = tmp_path / "serve.log"
    with (
        log.open("wb") as sink,
        _serving(tmp_path / "data", sink, unset=("XDG_RUNTIME_DIR",), TODO_LOG_FORMAT="json") as server,
    ):
        _stop(server, tmp_path / "data")
    lines = log.read_text(encoding="utf-8").splitlines()
    assert any("Application startup complete" in line for line in lines), lines
    for line in lines:
        assert isinstance(json.loads(line), dict), line
