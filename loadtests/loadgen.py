"""A closed-loop HTTP/1.1 load generator for the benchmark: N keep-alive connections, each sending its next request
as soon as the previous response is complete, cycling through prepared requests (so each request can carry its own
user's token and ids). A plan alternates named workloads in time slices (see Schedule).

uvloop and httptools (both installed by uvicorn[standard]) keep its cost to a few microseconds per request, so one
core saturates one uvicorn worker; it reports its own CPU use so a run can show it was not the bottleneck.

    python -m loadtests.loadgen --url http://127.0.0.1:8000 --plan plan.json --connections 32

plan.json is {"workloads": {name: [{"method", "path", "headers", "body", "expect"}, ...]},
"schedule": [[name, seconds], ...]}; the result is one JSON object on stdout, with figures per workload.
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
from dataclasses import dataclass, field
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


@dataclass
class Recorder:
    """Latencies (ns) and outcomes of the requests one named workload sent during its slices."""

    seconds: float = 0.0
    latencies: list[int] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: int = 0

    def result(self) -> dict[str, Any]:
        latencies = sorted(self.latencies)
        return {
            "requests": len(latencies),
            "seconds": round(self.seconds, 3),
            "rps": round(len(latencies) / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": percentile_ms(latencies, 0.50),
            "p90_ms": percentile_ms(latencies, 0.90),
            "p99_ms": percentile_ms(latencies, 0.99),
            "max_ms": percentile_ms(latencies, 1.0),
            "unexpected_status": self.unexpected,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }


@dataclass(frozen=True)
class Slice:
    name: str
    start: float
    end: float


class Schedule:
    """Consecutive time slices, each driving one named workload. Alternating short slices of two workloads makes
    them share whatever else the machine is doing at the time, so their ratio survives a noisy neighbour."""

    def __init__(self, workloads: dict[str, list[Prepared]], plan: Sequence[tuple[str, float]], warmup: float) -> None:
        self.workloads = workloads
        now = time.monotonic()
        self.record_from = now + warmup
        slices, at = [], self.record_from
        for name, seconds in plan:
            slices.append(Slice(name, at, at + seconds))
            at += seconds
        self.slices = slices
        self.stop_at = at
        self.recorders = {name: Recorder() for name in workloads}
        for piece in slices:
            self.recorders[piece.name].seconds += piece.end - piece.start
        self.disconnects = 0
        self._index = 0

    def current(self, now: float) -> Slice | None:
        """The slice running at `now` (None during the warm-up, which drives the first slice's workload)."""
        if now < self.record_from:
            return None
        while self._index < len(self.slices) - 1 and now >= self.slices[self._index].end:
            self._index += 1
        return self.slices[self._index]


class Connection(asyncio.Protocol):
    def __init__(self, schedule: Schedule, offset: int, step: int, done: asyncio.Event) -> None:
        self.schedule, self.offset, self.step, self.done = schedule, offset, step, done
        self.counter = 0
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.sent_at = 0
        self.current: Prepared | None = None
        self.slice: Slice | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self.send_next()

    def send_next(self) -> None:
        assert self.transport is not None
        now = time.monotonic()
        if now >= self.schedule.stop_at:
            self.transport.close()
            return
        self.slice = self.schedule.current(now)
        requests = self.schedule.workloads[(self.slice or self.schedule.slices[0]).name]
        self.current = requests[(self.offset + self.counter * self.step) % len(requests)]
        self.counter += 1
        self.sent_at = time.perf_counter_ns()
        self.transport.write(self.current.raw)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        elapsed = time.perf_counter_ns() - self.sent_at
        if self.slice is not None:
            recorder = self.schedule.recorders[self.slice.name]
            status = self.parser.get_status_code()
            recorder.latencies.append(elapsed)
            recorder.statuses[status] += 1
            if self.current is not None and status != self.current.expect:
                recorder.unexpected += 1
        if self.parser.should_keep_alive():
            self.send_next()
        elif self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if time.monotonic() < self.schedule.stop_at:
            self.schedule.disconnects += 1
        self.done.set()


async def _connection_loop(host: str, port: int, schedule: Schedule, offset: int, step: int) -> None:
    loop = asyncio.get_running_loop()
    while time.monotonic() < schedule.stop_at:
        done = asyncio.Event()
        try:
            await loop.create_connection(
                lambda: Connection(schedule, offset, step, done),  # noqa: B023 - awaited in this iteration
                host,
                port,
            )
        except OSError:
            schedule.disconnects += 1
            await asyncio.sleep(0.05)
            continue
        await done.wait()


def percentile_ms(sorted_ns: Sequence[int], q: float) -> float:
    if not sorted_ns:
        return 0.0
    index = min(len(sorted_ns) - 1, max(0, round(q * len(sorted_ns)) - 1))
    return round(sorted_ns[index] / 1e6, 2)


async def drive(url: str, plan: dict[str, Any], connections: int, warmup: float) -> dict[str, Any]:
    """Run `plan` ({"workloads": {name: [spec, ...]}, "schedule": [[name, seconds], ...]}); figures per workload."""
    target = urlsplit(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    workloads = {name: [prepare(spec, f"{host}:{port}") for spec in specs] for name, specs in plan["workloads"].items()}
    schedule = Schedule(workloads, [(name, float(seconds)) for name, seconds in plan["schedule"]], warmup)
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    await asyncio.gather(*(_connection_loop(host, port, schedule, i, connections) for i in range(connections)))
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {
        "workloads": {name: recorder.result() for name, recorder in schedule.recorders.items()},
        "disconnects": schedule.disconnects,
        "generator_cpu": round(cpu / (time.monotonic() - started), 3),  # share of one core
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.loadgen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args(argv)
    plan = json.loads(args.plan.read_text(encoding="utf-8"))
    result = uvloop.run(drive(args.url, plan, args.connections, args.warmup))
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
