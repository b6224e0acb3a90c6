"""Run a load profile headless and gate it on the SLOs.

    python -m loadtests.run --profile smoke [--host URL] [--token-source jwks|secret|dev|better-auth|tokens]
                            [--better-auth-url URL | --tokens FILE] [--processes N] [--duration S] [--users N]

Without --host a local stack is started (embedded PostgreSQL in a temporary TODO_DATA_DIR, the harness's JWKS
issuer, `todo-api serve` on a free loopback port) and stopped afterwards. With --host the virtual users load that
deployment with tokens minted the way it trusts (the harness issuer's key, --jwt-secret, or its dev key), or, with
nothing reconfigured, as it runs in production: --better-auth-url signs each virtual user up as a throwaway account
of the deployment's Better Auth and renews its token through /api/auth/token as a browser does; --tokens FILE hands
out pre-issued tokens round-robin (never renewed). Those two need --host. Reports land in reports/load/<profile>/:
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
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from loadtests.server_metrics import NOT_READ, MetricsWatcher, report_lines
from loadtests.shapes import PROFILES
from loadtests.slo import SLO_FILE, budget_name_for
from loadtests.stack import LocalStack, prepare_tokens
from loadtests.tokens import DEPLOYMENT_ONLY_SOURCES, TOKEN_SOURCES

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
ROOT = Path(__file__).resolve().parents[1]
GRACE_SECONDS = 180  # beyond the profile's own duration: start-up, seeding, stop timeout, reports


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtests.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="smoke")
    parser.add_argument("--host", help="target deployment (default: start a local stack)")
    parser.add_argument(
        "--token-source",
        choices=TOKEN_SOURCES,
        help="default: jwks, or better-auth / tokens when --better-auth-url / --tokens is given",
    )
    parser.add_argument("--processes", type=int, default=0, help="Locust worker processes (-1: one per core)")
    parser.add_argument("--duration", type=float, help="seconds (stress: cap on the whole ramp)")
    parser.add_argument("--users", type=int, help="peak virtual users (default: the profile's)")
    parser.add_argument("--slo-budget", help="budget in specs/slo.yaml (default: the profile's)")
    parser.add_argument("--slo-file", type=Path, default=SLO_FILE)
    parser.add_argument("--report-dir", type=Path, help="default: reports/load/<profile>")
    parser.add_argument("--seed-tasks", type=int, default=25, help="tasks each virtual user creates first")
    parser.add_argument("--think-time", metavar="MIN,MAX", help="seconds between journeys (default: the profile's)")
    parser.add_argument(
        "--renew-margin",
        type=float,
        metavar="S",
        help="renew a token that expires within S seconds (default 120, as Better Auth's client; above the tokens' "
        "lifetime every request renews)",
    )
    local = parser.add_argument_group("local stack (no --host)")
    local.add_argument("--server-workers", type=int, default=1)
    local.add_argument("--db-pool-size", type=int, help="DB_POOL_SIZE for the server")
    local.add_argument("--database-url", help="use this database instead of the embedded one (e.g. a Neon branch)")
    remote = parser.add_argument_group("token source for --host (as the spec suite's target mode)")
    remote.add_argument(
        "--metrics-url",
        metavar="URL",
        help="the target's Prometheus /metrics (TODO_METRICS_PORT), read before, during and after the run: "
        "server-side p99, pool saturation and token-cache hit rate in the report (a local stack serves its own)",
    )
    remote.add_argument("--jwt-secret", default=os.environ.get("TARGET_JWT_SECRET"), help="the target's secret")
    remote.add_argument("--data-dir", type=Path, default=Path(".todo-data"), help="the dev-mode target's data dir")
    remote.add_argument(
        "--issuer-port",
        type=int,
        default=int(os.environ.get("TARGET_ISSUER_PORT", "0")),
        help="port of the harness's JWKS issuer; the target's BETTER_AUTH_URL is http://127.0.0.1:PORT",
    )
    remote.add_argument(
        "--better-auth-url",
        metavar="URL",
        help="the target's own Better Auth: every virtual user signs up a throwaway account (spec-load-...) and "
        "renews its token through /api/auth/token (implies --token-source better-auth)",
    )
    remote.add_argument(
        "--tokens",
        type=Path,
        metavar="FILE",
        help='pre-issued tokens, {"users": [{"token": ..., "id": optional}]}: handed to virtual users round-robin, '
        "never renewed (implies --token-source tokens)",
    )
    return parser


class UsageError(Exception):
    """The options do not make a run; the message says why."""


def token_source(args: argparse.Namespace) -> str:
    """The source the options choose; --better-auth-url and --tokens imply theirs, and need a deployment."""
    implied = [
        (flag, source)
        for flag, value, source in (
            ("--better-auth-url", args.better_auth_url, "better-auth"),
            ("--tokens", args.tokens, "tokens"),
        )
        if value
    ]
    if len(implied) > 1:
        raise UsageError("choose one credential source, not --better-auth-url and --tokens")
    source: str = args.token_source or (implied[0][1] if implied else "jwks")
    if implied and source != implied[0][1]:
        raise UsageError(f"{implied[0][0]} means --token-source {implied[0][1]}, not {source}")
    if source == "better-auth" and not args.better_auth_url:
        raise UsageError("--token-source better-auth needs --better-auth-url URL")
    if source == "tokens" and not args.tokens:
        raise UsageError("--token-source tokens needs --tokens FILE")
    if source in DEPLOYMENT_ONLY_SOURCES and not args.host:
        what = "that Better Auth's tokens" if source == "better-auth" else "those tokens"
        raise UsageError(
            f"{implied[0][0] if implied else '--token-source ' + source} needs --host: the local stack's server "
            f"trusts only the harness's own issuer, not {what}; point --host at the deployment that trusts them"
        )
    if source == "secret" and args.host and not args.jwt_secret:
        raise UsageError("--token-source secret with --host needs --jwt-secret")
    return source


def check_credentials(args: argparse.Namespace, source: str) -> None:
    """Before Locust starts: Better Auth answers, or the tokens file is usable (expiring tokens are reported)."""
    # Imported here, not at the top: Locust (loadtests.shapes) must monkey-patch ssl before httpx imports it.
    import httpx
    import jwt

    from harness import better_auth
    from harness.credentials import load_tokens_file

    if source == "better-auth":
        try:
            keys = better_auth.jwks(args.better_auth_url).get("keys")
        except (httpx.HTTPError, ValueError) as exc:
            raise UsageError(f"Better Auth at {args.better_auth_url} did not answer GET /api/auth/jwks: {exc}") from exc
        if not keys:
            raise UsageError(f"Better Auth at {args.better_auth_url} publishes no keys at /api/auth/jwks")
    if source == "tokens":
        try:
            users = load_tokens_file(args.tokens)
        except (OSError, ValueError, TypeError, AttributeError, jwt.PyJWTError) as exc:
            raise UsageError(f"--tokens {args.tokens}: {exc}") from exc
        duration = args.duration if args.duration is not None else PROFILES[args.profile].default.duration
        for user in users:
            exp = jwt.decode(user.token, options={"verify_signature": False}).get("exp")
            if isinstance(exp, int | float) and exp < time.time() + duration:
                print(
                    f"loadtests: warning: the token of {user.id} expires in {exp - time.time():.0f} s, before the "
                    f"run ends ({duration:.0f} s); tokens from --tokens are not renewed: its virtual users stop then "
                    "and the run fails",
                    file=sys.stderr,
                )


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
    if args.renew_margin is not None:
        env["LOADTEST_RENEW_MARGIN"] = str(args.renew_margin)
    return env


def time_limit(args: argparse.Namespace) -> float:
    duration = args.duration if args.duration is not None else PROFILES[args.profile].default.duration
    return duration + GRACE_SECONDS


def run_locust(
    args: argparse.Namespace, host: str, token_env: dict[str, str], report_dir: Path, metrics_url: str | None = None
) -> int:
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "summary.json").unlink(missing_ok=True)
    print(f"loadtests: profile {args.profile} against {host}; reports in {report_dir}", flush=True)
    with ExitStack() as stack:
        watcher = stack.enter_context(MetricsWatcher(metrics_url)) if metrics_url else None
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
    server = watcher.figures() if watcher else {"read": False, "reason": f"{NOT_READ} (no --metrics-url)"}
    add_to_summary(report_dir / "summary.json", "server", server)
    return report(report_dir, completed.returncode)


def add_to_summary(path: Path, key: str, value: Any) -> None:
    """Locust's process wrote summary.json; the runner adds what only it saw (the server's own metrics)."""
    if path.exists():
        summary = json.loads(path.read_text(encoding="utf-8"))
        summary[key] = value
        path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


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
    credentials = summary.get("credentials") or {}
    if credentials:
        figures = ", ".join(f"{name} {value}" for name, value in credentials.items() if name != "source")
        print(f"  credentials ({credentials.get('source')}): {figures}")
    if summary.get("last_held_users") is not None or summary.get("steps"):
        print(f"  stress: last step that held the SLOs: {summary.get('last_held_users')} users")
    for line in report_lines(summary.get("server") or {}):
        print(line)
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
    try:
        source = token_source(args)
        if args.host:
            check_credentials(args, source)
    except UsageError as exc:
        print(f"loadtests: {exc}", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        if args.host:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="todo-load-")))
            tokens = prepare_tokens(
                source,
                workdir,
                stack,
                secret=args.jwt_secret,
                data_dir=args.data_dir,
                issuer_port=args.issuer_port,
                better_auth_url=args.better_auth_url,
                tokens_file=args.tokens,
            )
            return run_locust(args, args.host.rstrip("/"), tokens.token_env, report_dir, args.metrics_url)
        server_env = {"DB_POOL_SIZE": str(args.db_pool_size)} if args.db_pool_size else {}
        try:
            local = stack.enter_context(
                LocalStack(
                    token_source=source,
                    workers=args.server_workers,
                    database_url=args.database_url,
                    log_path=_fresh(report_dir / "server.log"),
                    server_env=server_env,
                    metrics=True,
                )
            )
        except RuntimeError as exc:
            log = report_dir / "server.log"
            print(f"loadtests: the local server did not start: {exc} (see {log})", file=sys.stderr)
            return 2
        return run_locust(args, local.url, local.token_env, report_dir, local.metrics_url)
    return 2  # unreachable: both branches return inside the with-block


def _fresh(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    return path


if __name__ == "__main__":
    sys.exit(main())
