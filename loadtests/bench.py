"""The benchmark: one server worker on the embedded PostgreSQL, fixed closed-loop load from a second process.

    python -m loadtests.bench [--duration 20] [--connections 32] [--rounds 1] [--soak 30] [--slice 2]

Seeds one user per connection with 20 tasks each, then drives GET one task, GET the list (20 tasks),
PATCH .../complete and POST in turn, each alternating every --slice seconds with GET /healthz (the framework
baseline), so that each endpoint's throughput is a ratio to a baseline measured in the same run, at the same moments.
Prints req/s, p50 and p99 and the ratios (with --rounds N, medians of the rounds), checks the targets, then samples the
server's RSS during a mixed soak. Exit status 1 when a target is missed. Results land in reports/bench/bench.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from loadtests.stack import LocalStack
from loadtests.tokens import minter_from_env

ROOT = Path(__file__).resolve().parents[1]
TASKS_PER_USER = 20


@dataclass(frozen=True)
class Target:
    endpoint: str
    min_ratio: float


BASELINE = "GET /healthz"
ENDPOINTS = (BASELINE, "GET one task", "GET list (20)", "PATCH complete", "POST task")
TARGETS = (
    Target("GET one task", 0.30),
    Target("GET list (20)", 0.20),
    Target("PATCH complete", 0.15),
    Target("POST task", 0.15),
)
P99_LIMIT_MS = 100.0
RSS_GROWTH_LIMIT = 0.10


@dataclass(frozen=True)
class BenchUser:
    id: str
    token: str
    task_ids: tuple[int, ...]
    # POST creates under a second identity, so the reader's list stays exactly TASKS_PER_USER tasks in every round.
    writer_id: str
    writer_token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def seed(url: str, token_env: dict[str, str], count: int) -> list[BenchUser]:
    minter = minter_from_env(token_env)
    users = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for n in range(count):
            user_id = f"bench-{n:03d}"
            token = minter.mint(user_id, ttl=7200)
            ids = []
            for i in range(TASKS_PER_USER):
                response = client.post(
                    f"/api/{user_id}/tasks", json={"title": f"task {i}"}, headers={"Authorization": f"Bearer {token}"}
                )
                response.raise_for_status()
                ids.append(int(response.json()["id"]))
            writer_id = f"{user_id}-writer"
            users.append(BenchUser(user_id, token, tuple(ids), writer_id, minter.mint(writer_id, ttl=7200)))
    return users


def request_specs(endpoint: str, users: Sequence[BenchUser]) -> list[dict[str, Any]]:
    json_body = {"Content-Type": "application/json"}
    if endpoint == "GET /healthz":
        return [{"method": "GET", "path": "/healthz", "expect": 200}]
    if endpoint == "GET list (20)":
        return [{"method": "GET", "path": f"/api/{u.id}/tasks", "headers": u.auth, "expect": 200} for u in users]
    if endpoint == "POST task":
        return [
            {
                "method": "POST",
                "path": f"/api/{u.writer_id}/tasks",
                "headers": {"Authorization": f"Bearer {u.writer_token}", **json_body},
                "body": '{"title":"bench"}',
                "expect": 201,
            }
            for u in users
        ]
    suffix, method = ("/complete", "PATCH") if endpoint == "PATCH complete" else ("", "GET")
    # Interleave users so consecutive requests on a connection belong to different users.
    return [
        {"method": method, "path": f"/api/{u.id}/tasks/{u.task_ids[i]}{suffix}", "headers": u.auth, "expect": 200}
        for i in range(TASKS_PER_USER)
        for u in users
    ]


def run_plan(args: argparse.Namespace, url: str, plan: dict[str, Any]) -> dict[str, Any]:
    """Run the load generator in its own process (so it never competes with the server for the GIL)."""
    seconds = sum(piece[1] for piece in plan["schedule"])
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(plan, handle)
    try:
        command = [sys.executable, "-m", "loadtests.loadgen", "--url", url, "--plan", handle.name]
        command += ["--connections", str(args.connections)]
        output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60)  # noqa: S603
        result: dict[str, Any] = json.loads(output.stdout)
        return result
    finally:
        Path(handle.name).unlink(missing_ok=True)


def measure_endpoint(args: argparse.Namespace, url: str, endpoint: str, users: Sequence[BenchUser]) -> dict[str, Any]:
    """The endpoint and /healthz in alternating slices: each gets `duration` seconds, and both see the same
    neighbours, so the ratio holds on a busy machine."""
    pairs = max(1, round(args.duration / args.slice))
    plan = {
        "workloads": {BASELINE: request_specs(BASELINE, users), endpoint: request_specs(endpoint, users)},
        "schedule": [[name, args.duration / pairs] for _ in range(pairs) for name in (BASELINE, endpoint)],
    }
    result = run_plan(args, url, plan)
    figures, baseline = result["workloads"][endpoint], result["workloads"][BASELINE]
    figures["baseline_rps"] = baseline["rps"]
    figures["ratio"] = round(figures["rps"] / baseline["rps"], 4) if baseline["rps"] else 0.0
    figures["generator_cpu"] = result["generator_cpu"]
    print(
        f"  {endpoint:16} {figures['rps']:>7.0f} req/s  p50 {figures['p50_ms']:>6.1f} ms"
        f"  p99 {figures['p99_ms']:>6.1f} ms"
        f"  | /healthz {baseline['rps']:>6.0f} req/s  p99 {baseline['p99_ms']:>5.1f} ms  -> {figures['ratio']:.0%}"
        f"  (generator cpu {result['generator_cpu']:.2f})",
        flush=True,
    )
    return {endpoint: figures, f"{BASELINE} (with {endpoint})": baseline}


def measure_round(args: argparse.Namespace, url: str, users: Sequence[BenchUser]) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for endpoint in args.only or ENDPOINTS[1:]:
        results.update(measure_endpoint(args, url, endpoint, users))
    baselines = [figures for name, figures in results.items() if name.startswith(f"{BASELINE} (")]
    results[BASELINE] = {
        "rps": round(statistics.mean(b["rps"] for b in baselines), 1),
        "p50_ms": statistics.median(b["p50_ms"] for b in baselines),
        "p99_ms": max(b["p99_ms"] for b in baselines),
        "ratio": 1.0,
        "unexpected_status": sum(b["unexpected_status"] for b in baselines),
    }
    return results


def summarise(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per endpoint: medians over the rounds of rps, p50, p99 and the ratio to its interleaved /healthz."""
    return {
        endpoint: {
            "rps": round(statistics.median(r[endpoint]["rps"] for r in rounds), 1),
            "p50_ms": round(statistics.median(r[endpoint]["p50_ms"] for r in rounds), 2),
            "p99_ms": round(statistics.median(r[endpoint]["p99_ms"] for r in rounds), 2),
            "ratio": round(statistics.median(r[endpoint]["ratio"] for r in rounds), 3),
            "unexpected_status": sum(r[endpoint]["unexpected_status"] for r in rounds),
        }
        for endpoint in ENDPOINTS
        if endpoint in rounds[0]
    }


def check_targets(summary: dict[str, dict[str, Any]]) -> list[str]:
    misses = [
        f"{t.endpoint}: {summary[t.endpoint]['ratio']:.0%} of /healthz < {t.min_ratio:.0%}"
        for t in TARGETS
        if t.endpoint in summary and summary[t.endpoint]["ratio"] < t.min_ratio
    ]
    for endpoint, figures in summary.items():
        if figures["p99_ms"] >= P99_LIMIT_MS:
            misses.append(f"{endpoint}: p99 {figures['p99_ms']:.1f} ms >= {P99_LIMIT_MS:.0f} ms")
        if figures["unexpected_status"]:
            misses.append(f"{endpoint}: {figures['unexpected_status']} unexpected status(es)")
    return misses


def soak(args: argparse.Namespace, url: str, server_pid: int, users: Sequence[BenchUser]) -> dict[str, Any]:
    """Mixed load for --soak seconds while sampling the server's RSS once a second. The reference point is the RSS
    after the first tenth of the soak (at least 5 s), once pools and caches are warm."""
    specs = [spec for endpoint in ENDPOINTS[1:] for spec in request_specs(endpoint, users)]
    specs = specs[::3] + specs[1::3] + specs[2::3]  # mix endpoints along each connection's cycle
    process = psutil.Process(server_pid)
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def sample() -> None:
        started = time.monotonic()
        while not stop.wait(1.0):
            samples.append((time.monotonic() - started, process.memory_info().rss))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    load = run_plan(args, url, {"workloads": {"mixed": specs}, "schedule": [["mixed", args.soak]]})["workloads"][
        "mixed"
    ]
    stop.set()
    sampler.join()
    warm = [rss for at, rss in samples if at >= max(5.0, args.soak / 10)] or [rss for _, rss in samples]
    start, end, peak = warm[0], warm[-1], max(warm)
    return {
        "seconds": args.soak,
        "rps": load["rps"],
        "rss_start_mb": round(start / 2**20, 1),
        "rss_end_mb": round(end / 2**20, 1),
        "rss_max_mb": round(peak / 2**20, 1),
        "growth": round(peak / start - 1, 4),
        "flat": peak <= start * (1 + RSS_GROWTH_LIMIT),
    }


def print_summary(summary: dict[str, dict[str, Any]], memory: dict[str, Any] | None) -> None:
    print(f"\n{'endpoint':16} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs /healthz':>12}")
    for endpoint, f in summary.items():
        print(f"{endpoint:16} {f['rps']:>8.0f} {f['p50_ms']:>8.1f} {f['p99_ms']:>8.1f} {f['ratio']:>12.0%}")
    if memory is not None:
        print(
            f"\nmemory over a {memory['seconds']:.0f} s soak ({memory['rps']:.0f} req/s): RSS start "
            f"{memory['rss_start_mb']} MB, end {memory['rss_end_mb']} MB, max {memory['rss_max_mb']} MB "
            f"({memory['growth']:+.1%}): {'flat (within 10%)' if memory['flat'] else 'GREW more than 10%'}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per endpoint (default 20)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1, help="repeat all endpoints; medians are reported")
    parser.add_argument("--soak", type=float, default=30.0, help="memory soak seconds (0: skip; 600 for the target)")
    parser.add_argument("--only", action="append", choices=ENDPOINTS[1:], help="measure just this endpoint")
    parser.add_argument("--slice", type=float, default=2.0, help="seconds per alternating slice (default 2)")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE", help="e.g. DB_POOL_SIZE=20")
    parser.add_argument("--server-source", type=Path, help="serve another checkout's backend/ (compare releases)")
    parser.add_argument("--report", type=Path, default=ROOT / "reports" / "bench" / "bench.json")
    args = parser.parse_args(argv)
    server_env = {"TODO_LOG_LEVEL": "INFO", **dict(item.split("=", 1) for item in args.server_env)}
    source = "jwks"  # the harness's issuer, as production's Better Auth JWKS
    with LocalStack(token_source=source, workers=1, server_env=server_env, server_source=args.server_source) as stack:
        users = seed(stack.url, stack.token_env, args.connections)
        print(f"bench: 1 server worker, {args.connections} connections, {args.duration:.0f} s per endpoint", flush=True)
        rounds = []
        for n in range(args.rounds):
            print(f"round {n + 1}:", flush=True)
            rounds.append(measure_round(args, stack.url, users))
        summary = summarise(rounds)
        memory = soak(args, stack.url, stack.server_pid, users) if args.soak > 0 else None
    print_summary(summary, memory)
    misses = check_targets(summary)
    if memory is not None and not memory["flat"]:
        misses.append(f"memory grew {memory['growth']:.1%} over the soak (limit {RSS_GROWTH_LIMIT:.0%})")
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(
        json.dumps({"rounds": rounds, "summary": summary, "memory": memory, "misses": misses}, indent=2) + "\n"
    )
    for miss in misses:
        print(f"bench: target missed: {miss}", file=sys.stderr)
    if not misses:
        print("bench: all targets met")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
