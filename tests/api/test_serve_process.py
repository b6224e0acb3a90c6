"""`todo-api serve` as a real process: on the embedded PostgreSQL, and stopping it stops that PostgreSQL too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.net import free_port, wait_ready


def _postgres_of(data_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "postgres" and str(data_dir) in " ".join(process.info["cmdline"] or ()):
            found.append(process)
    return found


@pytest.mark.inprocess
@pytest.mark.req("DB-EMBEDDED", "OPS-CLI")
def test_sigterm_stops_the_server_and_the_embedded_postgres_it_started(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "BETTER_AUTH_"))}
    env["TODO_DATA_DIR"] = str(tmp_path)
    server = subprocess.Popen(
        # Loopback by name, not by serve's default: whatever the default becomes, this test binds no other interface.
        [sys.executable, "-m", "backend.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}", server, timeout=60)
        assert _postgres_of(tmp_path), "the embedded PostgreSQL should run in the data directory"
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _postgres_of(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _postgres_of(tmp_path) == []
    finally:
        if server.poll() is None:
            server.kill()
        for leftover in _postgres_of(tmp_path):  # only after a failure: leave no server behind
            leftover.terminate()
