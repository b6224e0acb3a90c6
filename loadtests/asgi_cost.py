"""The app's own cost per request, in-process: µs per request of GET /healthz and GET one task, the ASGI app called
directly with a fake receive/send and the repository's read stubbed (no server, no socket, no database).

    python -m loadtests.asgi_cost [--metrics] [--log-format json|text] [--no-access-log] [--requests 3000]

It isolates what the bench's reference ratio charges to the app (framework, middlewares, dependencies, logs,
metrics) from uvicorn, psycopg and PostgreSQL, which both servers share, and it is steady enough to attribute a
change of a few µs. `--server-source DIR` measures another checkout's backend/ (as the bench's option of that name).
Prints the best of --repeat batches (the least disturbed by neighbours).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SECRET = "asgi-cost-secret-0123456789abcdef0123456789"  # noqa: S105 - a throwaway HS256 key
USER = "cost-user"
ROW = {
    "id": 7,
    "title": "a task",
    "description": None,
    "completed": False,
    "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
    "completed_at": None,
}


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _measure(app: Any, path: str, headers: list[tuple[bytes, bytes]], requests: int, repeat: int) -> float:
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def batch(count: int) -> None:
        for _ in range(count):
            await app(_scope(path, headers), receive, send)

    await batch(200)  # warm caches (the token cache among them)
    if set(statuses) != {200}:
        raise RuntimeError(f"{path} answered {sorted(set(statuses))}, not 200")
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        await batch(requests)
        best = min(best, (time.perf_counter() - started) / requests)
    return best * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.asgi_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--metrics", action="store_true", help="as with TODO_METRICS_PORT (multiprocess files)")
    parser.add_argument("--log-format", choices=("json", "text"), default="json")
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--server-source", type=Path, help="measure another checkout's backend/")
    args = parser.parse_args(argv)
    if args.server_source is not None:
        sys.path.insert(0, str(args.server_source.resolve()))
    if args.metrics:  # as `todo-api serve` runs the app: prometheus-client writes its multiprocess files
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="asgi-cost-metrics-")
    # Imported here, after PROMETHEUS_MULTIPROC_DIR: prometheus-client picks its storage when first imported.
    import uvloop

    from backend.app import create_app
    from backend.tasks import repository
    from harness.inprocess import make_settings
    from harness.tokens import HS256Signer, Minter

    async def get_task(pool: object, user_id: str, task_id: int) -> dict[str, Any]:
        return {**ROW, "id": task_id, "version": 3}

    repository.get_task = get_task  # type: ignore[assignment]
    settings = {
        "BETTER_AUTH_SECRET": SECRET,
        "TODO_LOG_LEVEL": "INFO",
        "TODO_LOG_FORMAT": args.log_format,
        "TODO_ACCESS_LOG": str(not args.no_access_log).lower(),
        **({"TODO_METRICS_PORT": 9} if args.metrics else {}),
    }
    app = create_app(make_settings("postgresql://nobody@127.0.0.1:1/none", **settings))
    app.state.pool = object()  # never used: the read is stubbed, and the lifespan (which opens the pool) never runs
    with open(os.devnull, "w") as devnull:
        for handler in logging.getLogger("backend").handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(devnull)
        token = Minter(HS256Signer(SECRET), algorithm="HS256").mint(USER, ttl=3600)
        auth = [(b"authorization", f"Bearer {token}".encode())]
        for name, path, headers in (("GET /healthz", "/healthz", []), ("GET one task", f"/api/{USER}/tasks/7", auth)):
            cost = uvloop.run(_measure(app, path, headers, args.requests, args.repeat))
            print(f"{name:14} {cost:7.1f} µs per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
