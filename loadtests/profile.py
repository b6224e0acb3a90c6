"""Profile the server under the benchmark's load for one endpoint with py-spy (sampling, no code changes).

    python -m loadtests.profile "GET one task" [--duration 15] [--top 30] [--reference]

With --reference it profiles the bench's framework-free reference server under the same load instead: side by side,
the two show where the app's extra time per request goes. Writes reports/profile/<endpoint>[-reference].txt
(collapsed stacks, for speedscope or flamegraph.pl) and prints the functions with the largest inclusive share of the
samples taken while holding the GIL (where the CPU goes). py-spy needs ptrace rights (root, or CAP_SYS_PTRACE).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import psutil

from harness.net import free_port, serving
from loadtests.bench import ENDPOINTS, ROOT, reference_command, request_specs, run_plan, seed
from loadtests.stack import LocalStack


def top_frames(collapsed: str, limit: int) -> list[tuple[str, float]]:
    """Inclusive share of samples per frame (each frame counted once per stack)."""
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        for frame in set(stack.split(";")):
            inclusive[frame] += int(count)
    return [(frame, n / total) for frame, n in inclusive.most_common(limit)] if total else []


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("endpoint", choices=ENDPOINTS)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--reference", action="store_true", help="profile the reference server (loadtests/bench.py)")
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    name = re.sub(r"\W+", "-", args.endpoint).strip("-") + ("-reference" if args.reference else "")
    out = ROOT / "reports" / "profile" / f"{name}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    # The bench's configuration: metrics on, JSON logs, one access line per request.
    server_env = {"TODO_LOG_LEVEL": "INFO", "TODO_LOG_FORMAT": "json", **dict(i.split("=", 1) for i in args.server_env)}
    with ExitStack() as running:
        source = "jwks"  # the bench's token source
        stack = running.enter_context(LocalStack(token_source=source, workers=1, server_env=server_env, metrics=True))
        users = seed(stack.url, stack.token_env, args.connections)
        url, pid = stack.url, stack.server_pid
        if args.reference:
            port = free_port()
            url = running.enter_context(serving(reference_command(stack, port), port, ready_path="/healthz"))
            pid = next(p.pid for p in psutil.Process().children() if "loadtests.reference_server" in p.cmdline())
        plan = {
            "workloads": {args.endpoint: request_specs(args.endpoint, users)},
            "schedule": [[args.endpoint, args.duration + 4]],
        }
        load = threading.Thread(target=run_plan, args=(args, url, plan))
        load.start()
        server = psutil.Process(pid)
        cpu_before, started = sum(server.cpu_times()[:2]), time.monotonic()
        record = ["record", "--pid", str(pid), "--duration", str(int(args.duration)), "--rate", "250"]
        subprocess.run(  # noqa: S603 - py-spy from this venv
            [py_spy, *record, "--format", "raw", "--output", str(out), "--nonblocking", "--gil"],
            check=True,
            capture_output=True,
        )
        cpu = (sum(server.cpu_times()[:2]) - cpu_before) / (time.monotonic() - started)
        load.join()
    for frame, share in top_frames(out.read_text(encoding="utf-8"), args.top):
        print(f"{share:6.1%}  {frame}")
    print(f"server process CPU while profiled: {cpu:.0%} of one core (py-spy's own overhead included)")
    print(f"collapsed stacks: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
