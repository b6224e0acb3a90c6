"""Loopback networking for tests and tools: a free port, waiting for a server, and uvicorn in a background thread."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from harness import ROOT

READY_TIMEOUT_SECONDS = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(
    url: str,
    process: subprocess.Popen[bytes] | None,
    timeout: float = READY_TIMEOUT_SECONDS,
    path: str = "/readyz",
) -> None:
    """Until `url + path` answers 200; fails early if `process` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before it was ready")
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url}{path} did not answer 200 within {timeout:.0f} s")


class LiveServer:
    """A real uvicorn server in a background thread, for tests that need true concurrency over HTTP."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("live server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@contextmanager
def serving(
    command: list[str], port: int, *, env: dict[str, str] | None = None, ready_path: str = "/readyz"
) -> Iterator[str]:
    """A server as a child process on loopback `port`; yields its URL once `ready_path` answers 200, and stops it
    (SIGTERM, then SIGKILL) however the block ends."""
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        wait_ready(url, process, path=ready_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
