"""Target mode, shown end to end on this backend: start `todo-api serve` on a fresh database in an auth mode, judge
it over HTTP in every profile with --findings, check nothing was left behind, stop it and drop the database.

    python -m tools.target                                   # jwks, secret and dev; every profile; tests/security
    python -m tools.target --mode better-auth                # a real Better Auth (Node), users signed up through it
    python -m tools.target --mode secret --profile security tests/api tests/security -x
    tox -e target                                            # jwks, secret and dev
    tox -e interop                                           # ... and better-auth, after the interop tests

Modes:
- jwks: the server trusts BETTER_AUTH_URL=http://127.0.0.1:<port>, where the pytest run's own issuer serves its
  JWKS (--issuer-port), so that run is a single process (-n 0): one issuer, one key set.
- secret: the server gets BETTER_AUTH_SECRET and the run mints HS256 tokens with --jwt-secret (xdist allowed).
- better-auth: a real Better Auth server (interop/better-auth) on the same database; the server trusts it as in
  production and the run signs up throwaway users through it (--better-auth-url): checks that need the signing key
  could not run, everything else runs.
- dev: the server in dev mode; `todo-api token` mints tokens for four users into a file the run takes (--tokens), as
  a reviewer given pre-issued tokens would.
Every run must end with zero findings at any severity (--fail-on contract) and no task left behind.
Findings land in reports/target/<mode>-<profile>/.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from backend.db.urls import normalize_database_url
from harness import REPORTS, ROOT
from harness.better_auth_server import BetterAuthServer, install, node_database_url
from harness.database import fresh_database
from harness.net import free_port, serving
from harness.users import new_user_id

DEFAULT_PATHS = ["tests/security"]
MODES = ("jwks", "secret", "better-auth", "dev")
DEV_USERS = 4
PROFILES = ("security", "seed", "reference")


def _serve_command() -> list[str]:
    script = Path(sys.executable).with_name("todo-api")
    return [str(script)] if script.exists() else [sys.executable, "-m", "backend.cli"]


@contextmanager
def running_server(env: dict[str, str], port: int, data_dir: str) -> Iterator[str]:
    """`todo-api serve` as a child process; yields its URL once /readyz answers."""
    full_env = {**os.environ, "TODO_DATA_DIR": data_dir, "TODO_LOG_LEVEL": "WARNING", **env}
    command = [*_serve_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with serving(command, port, env=full_env) as url:
        yield url


def _leftover_tasks(url: str) -> int:
    engine = create_engine(normalize_database_url(url))
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM tasks")).scalar_one())
    finally:
        engine.dispose()


def mint_dev_token(data_dir: str, user_id: str) -> str:
    """A token from the dev-mode server's own key in `data_dir`, as `todo-api token` prints it."""
    env = {**os.environ, "TODO_DATA_DIR": data_dir}
    command = [*_serve_command(), "token", user_id]
    return subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout.strip()


def _dev_tokens(data_dir: str) -> Path:
    """Tokens from the server's own dev key (`todo-api token`), in the --tokens file format."""
    tokens = []
    for _ in range(DEV_USERS):
        user_id = new_user_id("dev")
        tokens.append({"id": user_id, "token": mint_dev_token(data_dir, user_id)})
    path = Path(data_dir) / "tokens.json"
    path.write_text(json.dumps({"users": tokens}), encoding="utf-8")
    return path


def _auth(mode: str, db_url: str, stack: ExitStack) -> tuple[dict[str, str], list[str]]:
    """The server's auth environment and the harness's credential flags for `mode` (dev: added once it runs)."""
    if mode == "jwks":
        issuer_port = free_port()
        return {"BETTER_AUTH_URL": f"http://127.0.0.1:{issuer_port}"}, [f"--issuer-port={issuer_port}", "-n", "0"]
    if mode == "secret":
        secret = secrets.token_urlsafe(48)
        return {"BETTER_AUTH_SECRET": secret}, [f"--jwt-secret={secret}", "-n", "2"]
    if mode == "dev":
        return {}, ["-n", "0"]
    install()
    url = make_url(normalize_database_url(db_url))
    better_auth = BetterAuthServer(node_database_url(url, url.database or ""))
    better_auth.migrate()
    stack.enter_context(_stopping(better_auth.start()))
    return {"BETTER_AUTH_URL": better_auth.base_url}, [f"--better-auth-url={better_auth.base_url}", "-n", "2"]


@contextmanager
def _stopping(server: BetterAuthServer) -> Iterator[BetterAuthServer]:
    try:
        yield server
    finally:
        server.stop()


def run_mode(mode: str, profiles: Sequence[str], pytest_args: Sequence[str]) -> int:
    """One auth mode: fresh database, server, one run per profile, leftover check. Returns 0 or the first failure."""
    codes = []
    with fresh_database("todo_target") as db_url, ExitStack() as stack:
        env, auth_args = _auth(mode, db_url, stack)
        data_dir = stack.enter_context(tempfile.TemporaryDirectory())
        with running_server({"DATABASE_URL": db_url, **env}, free_port(), data_dir) as url:
            if mode == "dev":
                auth_args.append(f"--tokens={_dev_tokens(data_dir)}")
            for profile in profiles:
                findings = REPORTS / "target" / f"{mode}-{profile}"
                command = [sys.executable, "-m", "pytest", f"--target-url={url}", *auth_args]
                command += [f"--profile={profile}", f"--findings={findings}", "--fail-on=contract", *pytest_args]
                print(f"\n=== target mode [{mode}, {profile}]: {url}\n$ {' '.join(command)}", flush=True)
                started = time.monotonic()
                codes.append(subprocess.call(command, cwd=ROOT))
                print(f"=== [{mode}, {profile}] pytest exit {codes[-1]} in {time.monotonic() - started:.1f}s")
        leftover = _leftover_tasks(db_url)
        print(f"=== [{mode}] tasks left behind in the target's database: {leftover}", flush=True)
    return next((code for code in codes if code), 1 if leftover else 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", action="append", choices=MODES, help="default: jwks, secret and dev")
    parser.add_argument("--profile", action="append", choices=PROFILES, help="default: every profile")
    args, pytest_args = parser.parse_known_args(argv)
    if not any(Path(ROOT, arg.split("::")[0]).exists() for arg in pytest_args if not arg.startswith("-")):
        pytest_args = [*DEFAULT_PATHS, *pytest_args]
    pytest_args = ["-q", "-p", "no:cacheprovider", *pytest_args]
    results = {
        mode: run_mode(mode, args.profile or PROFILES, pytest_args) for mode in args.mode or ["jwks", "secret", "dev"]
    }
    print(
        "\n=== target mode summary: "
        + ", ".join(f"{m}: {'ok' if c == 0 else f'FAILED ({c})'}" for m, c in results.items())
    )
    return max(results.values())


if __name__ == "__main__":
    sys.exit(main())
