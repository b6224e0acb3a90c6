"""Target mode, shown end to end: start `todo-api serve` on a fresh database in each auth mode, run the spec suite
against it over HTTP with --target-url, check nothing was left behind, stop the server and drop the database.

    python -m tools.target                      # both modes, tests/security
    python -m tools.target --mode secret tests/api tests/security -x
    tox -e target -- --mode jwks

JWKS mode: the server trusts BETTER_AUTH_URL=http://127.0.0.1:<issuer port>, where the pytest run's own issuer
serves its JWKS (--issuer-port), so that run is a single process (-n 0): one issuer, one key set.
Secret mode: the server gets BETTER_AUTH_SECRET and the run mints HS256 tokens with --jwt-secret (xdist allowed).
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from backend.db.urls import normalize_database_url
from harness.database import ROOT, fresh_database
from harness.net import free_port, wait_ready

DEFAULT_PATHS = ["tests/security"]


def _serve_command() -> list[str]:
    script = Path(sys.executable).with_name("todo-api")
    return [str(script)] if script.exists() else [sys.executable, "-m", "backend.cli"]


@contextmanager
def running_server(env: dict[str, str], port: int) -> Iterator[str]:
    """`todo-api serve` as a child process; yields its URL once /readyz answers."""
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        full_env = {**os.environ, "TODO_DATA_DIR": data_dir, "TODO_LOG_LEVEL": "WARNING", **env}
        command = [*_serve_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
        process = subprocess.Popen(command, env=full_env, cwd=ROOT)
        try:
            wait_ready(url, process)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _leftover_tasks(url: str) -> int:
    engine = create_engine(normalize_database_url(url))
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM tasks")).scalar_one())
    finally:
        engine.dispose()


def run_mode(mode: str, pytest_args: Sequence[str]) -> int:
    """One auth mode: fresh database, server, suite, leftover check. Returns pytest's exit code (or 1)."""
    with fresh_database("todo_target") as db_url:
        if mode == "jwks":
            issuer_port = free_port()
            env = {"BETTER_AUTH_URL": f"http://127.0.0.1:{issuer_port}"}
            auth_args = [f"--issuer-port={issuer_port}", "-n", "0"]
        else:
            secret = secrets.token_urlsafe(48)
            env = {"BETTER_AUTH_SECRET": secret}
            auth_args = [f"--jwt-secret={secret}"]
        with running_server({"DATABASE_URL": db_url, **env}, free_port()) as url:
            command = [sys.executable, "-m", "pytest", f"--target-url={url}", *auth_args, *pytest_args]
            print(f"\n=== target mode [{mode}]: {url}\n$ {' '.join(command)}", flush=True)
            started = time.monotonic()
            code = subprocess.call(command, cwd=ROOT)
            print(f"=== [{mode}] pytest exit {code} in {time.monotonic() - started:.1f}s", flush=True)
        leftover = _leftover_tasks(db_url)
        print(f"=== [{mode}] tasks left behind in the target's database: {leftover}", flush=True)
        return code or (1 if leftover else 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["jwks", "secret", "both"], default="both")
    args, pytest_args = parser.parse_known_args(argv)
    if not any(Path(ROOT, arg.split("::")[0]).exists() for arg in pytest_args if not arg.startswith("-")):
        pytest_args = [*DEFAULT_PATHS, *pytest_args]
    pytest_args = ["-q", "-p", "no:cacheprovider", *pytest_args]
    modes = ["jwks", "secret"] if args.mode == "both" else [args.mode]
    results = {mode: run_mode(mode, pytest_args) for mode in modes}
    print(
        "\n=== target mode summary: "
        + ", ".join(f"{m}: {'ok' if c == 0 else f'FAILED ({c})'}" for m, c in results.items())
    )
    return max(results.values())


if __name__ == "__main__":
    sys.exit(main())
