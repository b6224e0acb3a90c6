"""Run a load profile headless and gate it on the SLOs.

    python -m loadtests.run --profile smoke [--host URL] [--token-source jwks|secret|dev] [--processes N]
                            [--duration S] [--users N]

Without --host a local stack is started (embedded PostgreSQL in a temporary TODO_DATA_DIR, the harness's JWKS
issuer, `todo-api serve` on a free loopback port) and stopped afterwards. Reports land in reports/load/<profile>/:
report.html, stats_*.csv, stats.json (Locust's) and summary.json (per-endpoint figures and the SLO verdict).
Exit status: 0 when the SLOs held, 1 when any was breached (each breach is printed), 2 when the run itself failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from loadtests.shapes import PROFILES
from loadtests.slo import SLO_FILE, budget_name_for
from loadtests.stack import LocalStack, prepare_tokens
from loadtests.tokens import TOKEN_SOURCES

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
ROOT = Path(__file__).resolve().parents[1]
GRACE_SECONDS = 180  # beyond the profile's own duration: start-up, seeding, stop timeout, reports


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtests.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="smoke")
    parser.add_argument("--host", help="target deployment (default: start a local stack)")
    parser.add_argument("--token-source", choices=TOKEN_SOURCES, default="jwks")
    parser.add_argument("--processes", type=int, default=0, help="Locust worker processes (-1: one per core)")
    parser.add_argument("--duration", type=float, help="seconds (stress: cap on the whole ramp)")
    parser.add_argument("--users", type=int, help="peak virtual users (default: the profile's)")
    parser.add_argument("--slo-budget", help="budget in specs/slo.yaml (default: the profile's)")
    parser.add_argument("--slo-file", type=Path, default=SLO_FILE)
    parser.add_argument("--report-dir", type=Path, help="default: reports/load/<profile>")
    parser.add_argument("--seed-tasks", type=int, default=25, help="tasks each virtual user creates first")
    parser.add_argument("--think-time", metavar="MIN,MAX", help="seconds between journeys (default: the profile's)")
    local = parser.add_argument_group("local stack (no --host)")
    local.add_argument("--server-workers", type=int, default=1)
    local.add_argument("--db-pool-size", type=int, help="DB_POOL_SIZE for the server")
    local.add_argument("--database-url", help="use this database instead of the embedded one (e.g. a Neon branch)")
    remote = parser.add_argument_group("token source for --host (as the spec suite's target mode)")
    remote.add_argument("--jwt-secret", default=os.environ.get("TARGET_JWT_SECRET"), help="the target's secret")
    remote.add_argument("--data-dir", type=Path, default=Path(".todo-data"), help="the dev-mode target's data dir")
    remote.add_argument(
        "--issuer-port",
        type=int,
        default=int(os.environ.get("TARGET_ISSUER_PORT", "0")),
        help="port of the harness's JWKS issuer; the target's BETTER_AUTH_URL is http://127.0.0.1:PORT",
    )
    return parser


def locust_command(args: argparse.Namespace, host: str, report_dir: Path) -> list[str]:
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", host]
    command += ["--html", str(report_dir / "report.html"), "--csv", str(report_dir / "stats")]
    command += ["--json-file", str(report_dir / "stats"), "--only-summary", "--stop-timeout", "10"]
    if args.processes:
        command += ["--processes", str(args.processes)]
    return command


def locust_env(args: argparse.Namespace, token_env: dict[str, str], report_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_")}
    env.update(token_env)
    env.update(
        {
            "LOADTEST_PROFILE": args.profile,
            "LOADTEST_SLO_FILE": str(args.slo_file.resolve()),
            "LOADTEST_SLO_BUDGET": args.slo_budget or budget_name_for(args.profile, args.slo_file),
            "LOADTEST_REPORT_DIR": str(report_dir),
            "LOADTEST_SEED_TASKS": str(args.seed_tasks),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
    )
    if args.duration is not None:
        env["LOADTEST_DURATION"] = str(args.duration)
    if args.users is not None:
        env["LOADTEST_USERS"] = str(args.users)
    if args.think_time:
        env["LOADTEST_THINK_TIME"] = args.think_time
    return env


def time_limit(args: argparse.Namespace) -> float:
    duration = args.duration if args.duration is not None else PROFILES[args.profile].default.duration
    return duration + GRACE_SECONDS


def run_locust(args: argparse.Namespace, host: str, token_env: dict[str, str], report_dir: Path) -> int:
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "summary.json").unlink(missing_ok=True)
    print(f"loadtests: profile {args.profile} against {host}; reports in {report_dir}", flush=True)
    try:
        completed = subprocess.run(  # noqa: S603 - our own interpreter running locust
            locust_command(args, host, report_dir),
            env=locust_env(args, token_env, report_dir),
            stdin=subprocess.DEVNULL,
            timeout=time_limit(args),
            check=False,
        )
    except subprocess.TimeoutExpired:
        print(f"loadtests: locust did not finish within {time_limit(args):.0f} s", file=sys.stderr)
        return 2
    return report(report_dir, completed.returncode)


def report(report_dir: Path, locust_code: int) -> int:
    summary_path = report_dir / "summary.json"
    if not summary_path.exists():
        print(f"loadtests: locust exited with {locust_code} and wrote no summary", file=sys.stderr)
        return 2
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    for endpoint, figures in sorted(summary["endpoints"].items()):
        print(
            f"  {endpoint:42} {figures['requests']:>7} req  {figures['failures']:>5} fail  "
            f"p50 {figures['p50_ms']:>5.0f}  p95 {figures['p95_ms']:>5.0f}  p99 {figures['p99_ms']:>5.0f} ms"
        )
    if summary.get("last_held_users") is not None or summary.get("steps"):
        print(f"  stress: last step that held the SLOs: {summary.get('last_held_users')} users")
    if summary["passed"]:
        print(f"loadtests: SLOs held ({summary['slo_budget']} budget)")
        return 0
    print(f"loadtests: SLO BREACHED ({summary['slo_budget']} budget):", file=sys.stderr)
    for line in summary["breaches"]:
        print(f"  - {line}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report_dir = (args.report_dir or ROOT / "reports" / "load" / args.profile).resolve()
    with ExitStack() as stack:
        if args.host:
            if args.token_source == "secret" and not args.jwt_secret:  # noqa: S105 - a source name
                print("loadtests: --token-source secret with --host needs --jwt-secret", file=sys.stderr)
                return 2
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="todo-load-")))
            tokens = prepare_tokens(
                args.token_source,
                workdir,
                stack,
                secret=args.jwt_secret,
                data_dir=args.data_dir,
                issuer_port=args.issuer_port,
            )
            return run_locust(args, args.host.rstrip("/"), tokens.token_env, report_dir)
        server_env = {"DB_POOL_SIZE": str(args.db_pool_size)} if args.db_pool_size else {}
        try:
            local = stack.enter_context(
                LocalStack(
                    token_source=args.token_source,
                    workers=args.server_workers,
                    database_url=args.database_url,
                    log_path=_fresh(report_dir / "server.log"),
                    server_env=server_env,
                )
            )
        except RuntimeError as exc:
            log = report_dir / "server.log"
            print(f"loadtests: the local server did not start: {exc} (see {log})", file=sys.stderr)
            return 2
        return run_locust(args, local.url, local.token_env, report_dir)
    return 2  # unreachable: both branches return inside the with-block


def _fresh(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    return path


if __name__ == "__main__":
    sys.exit(main())
