"""`todo-api serve --workers 2` as a real process on a fresh database, JSON logs and metrics on: /metrics adds up
both workers, and a request uvicorn cannot parse gets uvicorn's own 400, the one documented exception to
"every response carries X-Request-ID" (README, specs/observability.md)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.mmap_dict import MmapedDict

from harness import ROOT
from harness.credentials import secret_minter
from harness.database import fresh_database
from harness.net import free_port, wait_ready
from harness.users import new_user_id
from loadtests.server_metrics import scrape, total

pytestmark = pytest.mark.inprocess

SECRET = "serve-metrics-secret-0123456789abcdef0123"
WORKERS = 2
COLLECTION = "/api/{user_id}/tasks"
# The server's own configuration comes from this fixture alone; DB_PREPARE_THRESHOLD is kept, because it belongs to
# the database the suite runs on (none behind neon-sim's PgBouncer 1.18, which cannot hold prepared statements).
_SCRUBBED = ("BETTER_AUTH_", "DATABASE_URL", "TODO_", "PROMETHEUS_", "JWT_", "JWKS_", "DB_POOL", "DB_CONNECT", "DB_MAX")


@dataclass
class Served:
    url: str
    metrics_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines()

    def workers(self) -> list[psutil.Process]:
        """uvicorn's worker processes (spawned children; not multiprocessing's resource tracker)."""
        children = psutil.Process(self.process.pid).children()
        return [c for c in children if "spawn_main" in " ".join(c.cmdline())]


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with fresh_database("todo_serve_metrics") as db_url, tempfile.TemporaryDirectory() as data_dir:
        port, metrics_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
        env.update(
            DATABASE_URL=db_url,
            BETTER_AUTH_SECRET=SECRET,
            TODO_DATA_DIR=data_dir,
            TODO_LOG_FORMAT="json",
            TODO_METRICS_PORT=str(metrics_port),
        )
        log = Path(data_dir) / "server.log"
        command = [sys.executable, "-m", "backend.cli", "serve", "--port", str(port), "--workers", str(WORKERS)]
        with log.open("wb") as sink:
            process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
            try:
                url = f"http://127.0.0.1:{port}"
                wait_ready(url, process)
                served = Served(url, f"http://127.0.0.1:{metrics_port}/metrics", process, log)
                deadline = time.monotonic() + 60
                while len(served.workers()) < WORKERS and time.monotonic() < deadline:
                    time.sleep(0.2)
                yield served
            finally:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:  # pragma: no cover - only when shutdown hangs
                    process.kill()
                    process.wait()


def _requests_by_worker(served: Served) -> dict[int, float]:
    """Each worker's own count of task-list requests, read from its multiprocess file."""
    counts = {}
    for worker in served.workers():
        directory = Path(worker.environ()["PROMETHEUS_MULTIPROC_DIR"])
        path = directory / f"counter_{worker.pid}.db"
        values = MmapedDict.read_all_values_from_file(str(path)) if path.exists() else []
        counts[worker.pid] = sum(
            value
            for key, value, _timestamp, _pos in values
            if json.loads(key)[1] == "todo_http_requests_total" and json.loads(key)[2].get("route") == COLLECTION
        )
    return counts


@pytest.mark.req("OPS-METRICS-WORKERS", "OPS-METRICS")
def test_metrics_add_up_every_workers_requests(served: Served):
    user = new_user_id("workers")
    headers = {"Authorization": f"Bearer {secret_minter(SECRET).mint(user)}"}
    url = f"{served.url}/api/{user}/tasks"
    sent = 0

    def one(_: int) -> int:
        with httpx.Client(timeout=10) as fresh:  # a new connection each: the kernel spreads them over the workers
            return fresh.get(url, headers=headers).status_code

    with ThreadPoolExecutor(8) as pool:
        while sent < 400:
            assert set(pool.map(one, range(40))) == {200}
            sent += 40
            by_worker = _requests_by_worker(served)
            if len(by_worker) == WORKERS and all(by_worker.values()):
                break

    # A worker counts a request once its answer is sent: the last few may land a moment after the client has them.
    deadline = time.monotonic() + 10
    while sum(_requests_by_worker(served).values()) < sent and time.monotonic() < deadline:
        time.sleep(0.05)
    by_worker = _requests_by_worker(served)
    scraped = scrape(served.metrics_url)
    assert len(served.workers()) == WORKERS
    assert all(count > 0 for count in by_worker.values()), f"one worker served everything: {by_worker}"
    assert sum(by_worker.values()) == sent
    assert total(scraped, "todo_http_requests_total", route=COLLECTION, method="GET", status="200") == sent
    assert total(scraped, "todo_http_request_duration_seconds_count", route=COLLECTION) == sent
    assert total(scraped, "todo_token_cache_misses_total") + total(scraped, "todo_token_cache_hits_total") == sent
    # Gauges are summed over live workers: two pools of DB_POOL_SIZE + DB_MAX_OVERFLOW (10 + 5).
    assert total(scraped, "todo_db_pool_max_connections") == WORKERS * 15
    assert user not in httpx.get(served.metrics_url, timeout=5).text


@pytest.mark.req("OPS-LOG-BATCHING", "OPS-LOG-FORMAT")
def test_both_workers_access_lines_reach_the_shared_log_whole_and_within_the_flush_interval(served: Served):
    user = new_user_id("batched")
    headers = {"Authorization": f"Bearer {secret_minter(SECRET).mint(user)}"}
    url = f"{served.url}/api/{user}/tasks"

    def one(_: int) -> int:
        with httpx.Client(timeout=10) as fresh:  # a connection each: both workers answer some
            return fresh.get(url, headers=headers).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(one, range(200))) == {200}

    def logged() -> list[dict[str, object]]:  # every line must be one whole JSON object, whoever wrote it
        return [r for r in map(json.loads, served.log_lines()) if r.get("path") == f"/api/{user}/tasks"]

    deadline = time.monotonic() + 10  # the default TODO_ACCESS_LOG_FLUSH_SECONDS is 1
    while len(logged()) < 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(logged()) == 200
    assert len({str(record["request_id"]) for record in logged()}) == 200


@pytest.mark.req("OPS-METRICS-EXPOSURE")
def test_the_api_port_serves_no_metrics(served: Served):
    response = httpx.get(f"{served.url}/metrics", timeout=5)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.req("OPS-NO-SERVER-BANNER")
def test_the_served_api_names_no_server_software(served: Served):
    user = new_user_id("banner")
    headers = {"Authorization": f"Bearer {secret_minter(SECRET).mint(user)}"}
    for response in (
        httpx.get(f"{served.url}/healthz", timeout=5),
        httpx.get(f"{served.url}/api/{user}/tasks", headers=headers, timeout=5),
        httpx.get(f"{served.url}/api/{user}/tasks", timeout=5),
    ):
        assert response.status_code in (200, 401)
        assert "server" not in response.headers
        assert response.headers["date"]  # RFC 9110: an origin server with a clock sends Date


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):  # uvicorn closes the connection after its 400
            answer += chunk
    return answer


@pytest.mark.req("OPS-MALFORMED-REQUEST", "OPS-LOG-FORMAT", "OPS-LOG-INJECTION", "OPS-NO-SERVER-BANNER")
@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: a\x1b[31mb\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: a\rforged\r\n\r\n",
        b"GET /api/x\n/tasks HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["NUL in a header", "ESC in a header", "bare CR in a header", "LF in the path"],
)
def test_a_request_uvicorn_cannot_parse_gets_uvicorns_plain_400_and_the_server_keeps_serving(
    served: Served, request_bytes: bytes
):
    port = int(served.url.rsplit(":", 1)[1])
    lines_before = len(served.log_lines())

    head, _, body = _raw(port, request_bytes).partition(b"\r\n\r\n")
    status, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in header_lines)}

    # The documented exception: uvicorn answers before the app runs, so no X-Request-ID and no problem+json.
    assert status == "HTTP/1.1 400 Bad Request"
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["connection"] == "close"
    assert "x-request-id" not in headers
    assert "server" not in headers
    assert body == b"Invalid HTTP request received."
    # ... and the server goes on answering with request ids.
    healthz = httpx.get(f"{served.url}/healthz", timeout=5)
    assert healthz.status_code == 200
    assert healthz.headers["x-request-id"]
    # uvicorn's warning is one JSON line of ours; the request's bytes never reach the log.
    deadline = time.monotonic() + 5
    while not any("Invalid HTTP request" in line for line in served.log_lines()[lines_before:]):
        assert time.monotonic() < deadline, "uvicorn's warning was not logged"
        time.sleep(0.05)
    new = [json.loads(line) for line in served.log_lines()[lines_before:]]
    warning = next(record for record in new if "Invalid HTTP request" in str(record.get("message")))
    assert (warning["logger"], warning["level"]) == ("uvicorn.error", "WARNING")
    assert not any("forged" in json.dumps(record) or "\\u001b" in json.dumps(record) for record in new)
