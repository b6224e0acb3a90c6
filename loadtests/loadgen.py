"""A closed-loop HTTP/1.1 load generator for the benchmark: N keep-alive connections, each sending its next request
as soon as the previous response is complete, cycling through prepared requests (so each request can carry its own
user's token and ids). A plan alternates named workloads in time slices (see Schedule).

uvloop and httptools (both installed by uvicorn[standard]) keep its cost to a few microseconds per request, so one
core saturates one uvicorn worker; it reports its own CPU use so a run can show it was not the bottleneck.

    python -m loadtests.loadgen --url http://127.0.0.1:8000 --plan plan.json --connections 32

plan.json is {"workloads": {name: [{"method", "path", "headers", "body", "expect"}, ...]},
"schedule": [[name, seconds], ...]}; the result is one JSON object on stdout, with figures per workload.

Optional: "targets": {workload name: base URL} sends that workload to another server than --url (each server gets its
own keep-alive connections, idle while the other's slices run); a spec's "if_match" (the request's first ETag) sends
If-Match with the ETag its path last answered; "idempotency_key": true sends a fresh Idempotency-Key each time.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import sys
import time
import uuid
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
    raw: bytes  # the whole request; with a per-request header, everything up to it
    expect: int
    path: str = ""
    tail: bytes = b""  # after the per-request header: the blank line and the body
    if_match: str | None = None  # the first ETag to send (later: the one this path last answered)
    idempotency_key: bool = False

    def render(self, etags: dict[str, str], fresh: str) -> bytes:
        if self.if_match is not None:
            return b"%sIf-Match: %s\r\n%s" % (self.raw, etags.get(self.path, self.if_match).encode(), self.tail)
        if self.idempotency_key:
            return b"%sIdempotency-Key: %s\r\n%s" % (self.raw, fresh.encode(), self.tail)
        return self.raw


def prepare(spec: dict[str, Any], host: str) -> Prepared:
    body = (spec.get("body") or "").encode()
    lines = [f"{spec['method']} {spec['path']} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (spec.get("headers") or {}).items()]
    if body or spec["method"] in {"POST", "PUT", "PATCH"}:
        lines.append(f"Content-Length: {len(body)}")
    head = "\r\n".join(lines) + "\r\n"
    expect = int(spec.get("expect", 200))
    if spec.get("if_match") is not None or spec.get("idempotency_key"):
        return Prepared(
            head.encode(), expect, spec["path"], b"\r\n" + body, spec.get("if_match"), bool(spec.get("idempotency_key"))
        )
    return Prepared((head + "\r\n").encode() + body, expect)


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
    recorded: bool = True


class Schedule:
    """Consecutive time slices, each driving one named workload. Alternating short slices of two workloads makes
    them share whatever else the machine is doing at the time, so their ratio survives a noisy neighbour. The
    warm-up (not recorded) drives each workload in turn, so every server's connections are open and warm."""

    def __init__(
        self,
        workloads: dict[str, list[Prepared]],
        plan: Sequence[tuple[str, float]],
        warmup: float,
        targets: dict[str, str] | None = None,
    ) -> None:
        self.workloads = workloads
        self.targets = targets or {}  # workload -> server (absent: the default one)
        at = time.monotonic()
        slices = []
        names = list(dict.fromkeys(name for name, _ in plan))
        for name in names:
            slices.append(Slice(name, at, at + warmup / len(names), recorded=False))
            at += warmup / len(names)
        for name, seconds in plan:
            slices.append(Slice(name, at, at + seconds))
            at += seconds
        self.slices = slices
        self.stop_at = at
        self.recorders = {name: Recorder() for name in workloads}
        for piece in slices:
            if piece.recorded:
                self.recorders[piece.name].seconds += piece.end - piece.start
        self.disconnects = 0
        self.etags: dict[str, str] = {}  # path -> the ETag it last answered (If-Match workloads)
        self._keys = itertools.count()
        self._key_prefix = uuid.uuid4().hex
        self._index = 0

    def current(self, now: float) -> Slice:
        """The slice running at `now`."""
        while self._index < len(self.slices) - 1 and now >= self.slices[self._index].end:
            self._index += 1
        return self.slices[self._index]

    def target(self, name: str) -> str:
        return self.targets.get(name, "")

    def fresh_key(self) -> str:
        return f"{self._key_prefix}-{next(self._keys)}"


class Connection(asyncio.Protocol):
    def __init__(self, schedule: Schedule, offset: int, step: int, done: asyncio.Event, target: str = "") -> None:
        self.schedule, self.offset, self.step, self.done, self.target = schedule, offset, step, done, target
        self.counter = 0
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.sent_at = 0
        self.current: Prepared | None = None
        self.slice: Slice | None = None
        self.etag: bytes | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self.send_next()

    def send_next(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        now = time.monotonic()
        if now >= self.schedule.stop_at:
            self.transport.close()
            return
        self.slice = piece = self.schedule.current(now)
        if self.schedule.target(piece.name) != self.target:
            # Another server's slice: this connection stays open and idle until the slice ends.
            asyncio.get_running_loop().call_later(max(piece.end - now, 0.001), self.send_next)
            return
        requests = self.schedule.workloads[piece.name]
        self.current = requests[(self.offset + self.counter * self.step) % len(requests)]
        self.counter += 1
        self.etag = None
        raw = self.current.render(self.schedule.etags, self.schedule.fresh_key()) if self.current.tail else None
        self.sent_at = time.perf_counter_ns()
        self.transport.write(raw or self.current.raw)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"etag":
            self.etag = value

    def on_message_complete(self) -> None:
        elapsed = time.perf_counter_ns() - self.sent_at
        status = self.parser.get_status_code()
        if self.current is not None and self.current.if_match is not None and self.etag is not None:
            self.schedule.etags[self.current.path] = self.etag.decode()
        if self.slice is not None and self.slice.recorded:
            recorder = self.schedule.recorders[self.slice.name]
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


async def _connection_loop(url: str, schedule: Schedule, offset: int, step: int, target: str = "") -> None:
    loop = asyncio.get_running_loop()
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    while time.monotonic() < schedule.stop_at:
        done = asyncio.Event()
        try:
            await loop.create_connection(
                lambda: Connection(schedule, offset, step, done, target),  # noqa: B023 - awaited in this iteration
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
    """Run `plan` ({"workloads": {name: [spec, ...]}, "schedule": [[name, seconds], ...], "targets": {name: url}});
    figures per workload."""
    targets: dict[str, str] = plan.get("targets") or {}
    workloads = {
        name: [prepare(spec, urlsplit(targets.get(name, url)).netloc) for spec in specs]
        for name, specs in plan["workloads"].items()
    }
    schedule = Schedule(workloads, [(name, float(seconds)) for name, seconds in plan["schedule"]], warmup, targets)
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    servers = ["", *sorted({t for t in targets.values() if t})]
    await asyncio.gather(
        *(
            _connection_loop(server or url, schedule, i, connections, server)
            for server in servers
            for i in range(connections)
        )
    )
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
