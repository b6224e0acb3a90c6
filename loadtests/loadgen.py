"""A closed-loop HTTP/1.1 load generator for the benchmark: N keep-alive connections, each sending its next request
as soon as the previous response is complete, cycling through prepared requests (so each request can carry its own
user's token and ids).

uvloop and httptools (both installed by uvicorn[standard]) keep its cost to a few microseconds per request, so one
core saturates one uvicorn worker; it reports its own CPU use so a run can show it was not the bottleneck.

    python -m loadtests.loadgen --url http://127.0.0.1:8000 --requests reqs.json --connections 32 --duration 20

reqs.json is a list of {"method", "path", "headers", "body", "expect"}; the result is one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httptools
import uvloop


@dataclass(frozen=True)
class Prepared:
    raw: bytes
    expect: int


def prepare(spec: dict[str, Any], host: str) -> Prepared:
    body = (spec.get("body") or "").encode()
    lines = [f"{spec['method']} {spec['path']} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (spec.get("headers") or {}).items()]
    if body or spec["method"] in {"POST", "PUT", "PATCH"}:
        lines.append(f"Content-Length: {len(body)}")
    return Prepared(("\r\n".join(lines) + "\r\n\r\n").encode() + body, int(spec.get("expect", 200)))


class Recorder:
    """Latencies (ns) and outcomes after the warm-up, shared by all connections."""

    def __init__(self, record_from: float, stop_at: float) -> None:
        self.record_from = record_from
        self.stop_at = stop_at
        self.latencies: list[int] = []
        self.statuses: Counter[int] = Counter()
        self.unexpected = 0
        self.disconnects = 0


class Connection(asyncio.Protocol):
    def __init__(self, requests: Sequence[Prepared], start: int, step: int, recorder: Recorder, done: asyncio.Event):
        self.requests, self.index, self.step = requests, start, step
        self.recorder, self.done = recorder, done
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.sent_at = 0
        self.current: Prepared | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self.send_next()

    def send_next(self) -> None:
        assert self.transport is not None
        if time.monotonic() >= self.recorder.stop_at:
            self.transport.close()
            return
        self.current = self.requests[self.index % len(self.requests)]
        self.index += self.step
        self.sent_at = time.perf_counter_ns()
        self.transport.write(self.current.raw)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        elapsed = time.perf_counter_ns() - self.sent_at
        status = self.parser.get_status_code()
        recorder = self.recorder
        if time.monotonic() >= recorder.record_from:
            recorder.latencies.append(elapsed)
            recorder.statuses[status] += 1
            if self.current is not None and status != self.current.expect:
                recorder.unexpected += 1
        if self.parser.should_keep_alive():
            self.send_next()
        elif self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if time.monotonic() < self.recorder.stop_at:
            self.recorder.disconnects += 1
        self.done.set()


async def _connection_loop(
    host: str, port: int, requests: Sequence[Prepared], start: int, step: int, recorder: Recorder
) -> None:
    loop = asyncio.get_running_loop()
    while time.monotonic() < recorder.stop_at:
        done = asyncio.Event()
        try:
            await loop.create_connection(
                lambda: Connection(requests, start, step, recorder, done),  # noqa: B023 - awaited in this iteration
                host,
                port,
            )
        except OSError:
            recorder.disconnects += 1
            await asyncio.sleep(0.05)
            continue
        await done.wait()


def percentile_ms(sorted_ns: Sequence[int], q: float) -> float:
    if not sorted_ns:
        return 0.0
    index = min(len(sorted_ns) - 1, max(0, round(q * len(sorted_ns)) - 1))
    return round(sorted_ns[index] / 1e6, 2)


async def drive(
    url: str, specs: list[dict[str, Any]], connections: int, duration: float, warmup: float
) -> dict[str, Any]:
    target = urlsplit(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    requests = [prepare(spec, f"{host}:{port}") for spec in specs]
    now = time.monotonic()
    recorder = Recorder(record_from=now + warmup, stop_at=now + warmup + duration)
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(
        *(_connection_loop(host, port, requests, i, connections, recorder) for i in range(connections))
    )
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    latencies = sorted(recorder.latencies)
    return {
        "requests": len(latencies),
        "seconds": duration,
        "rps": round(len(latencies) / duration, 1),
        "p50_ms": percentile_ms(latencies, 0.50),
        "p90_ms": percentile_ms(latencies, 0.90),
        "p99_ms": percentile_ms(latencies, 0.99),
        "max_ms": percentile_ms(latencies, 1.0),
        "unexpected_status": recorder.unexpected,
        "statuses": {str(k): v for k, v in sorted(recorder.statuses.items())},
        "disconnects": recorder.disconnects,
        "generator_cpu": round(cpu / (warmup + duration), 3),  # share of one core, warm-up included
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.loadgen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--requests", type=Path, required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args(argv)
    specs = json.loads(args.requests.read_text(encoding="utf-8"))
    result = uvloop.run(drive(args.url, specs, args.connections, args.duration, args.warmup))
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
