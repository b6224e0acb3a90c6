"""A local stack for load runs and the benchmark: an embedded PostgreSQL in a temporary TODO_DATA_DIR, a token
source, and `todo-api serve` as a subprocess on a free loopback port. Everything is stopped and removed on exit."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.net import free_port, wait_ready
from loadtests.tokens import DEV_KID, write_private_key

# Server configuration a caller's shell might carry that must not leak into a load-test server.
_SCRUBBED = ("BETTER_AUTH_URL", "BETTER_AUTH_SECRET", "DATABASE_URL", "TODO_DATA_DIR", "TODO_ENV", "JWT_")
_SCRUBBED += ("TODO_METRICS_", "PROMETHEUS_MULTIPROC_DIR")  # metrics are on only when the caller asks (metrics=True)


@dataclass
class TokenSetup:
    """How the server must be configured for a token source, and the LOADTEST_* variables that mint for it."""

    server_env: dict[str, str] = field(default_factory=dict)
    token_env: dict[str, str] = field(default_factory=dict)


def prepare_tokens(
    source: str,
    workdir: Path,
    stack: ExitStack,
    *,
    secret: str | None = None,
    data_dir: Path | None = None,
    issuer_port: int = 0,
    better_auth_url: str | None = None,
    tokens_file: Path | None = None,
) -> TokenSetup:
    """jwks: start the harness's issuer (the server's BETTER_AUTH_URL); secret: a shared HS256 secret (a fresh one
    for a local server); dev: the dev-mode key in the server's data directory; better-auth: the deployment's own
    Better Auth (virtual users sign up there); tokens: a file of pre-issued tokens. The last two configure nothing
    on the server: they are credentials a deployment already trusts."""
    if source == "jwks":
        from harness.issuer import TokenIssuer

        issuer = TokenIssuer(port=issuer_port).start()
        stack.callback(issuer.stop)
        key = write_private_key(issuer.current_key.private, workdir / "issuer-key.pem")
        return TokenSetup(
            {"BETTER_AUTH_URL": issuer.base_url},
            {
                "LOADTEST_TOKEN_SOURCE": "jwks",
                "LOADTEST_SIGNING_KEY": str(key),
                "LOADTEST_KID": issuer.current_key.kid,
                "LOADTEST_ISSUER": issuer.base_url,
            },
        )
    if source == "secret":
        secret = secret or secrets.token_urlsafe(48)
        return TokenSetup(
            {"BETTER_AUTH_SECRET": secret}, {"LOADTEST_TOKEN_SOURCE": "secret", "LOADTEST_JWT_SECRET": secret}
        )
    if source == "dev":
        key_path = (data_dir or workdir) / "dev-signing-key.pem"
        return TokenSetup(
            {},
            {
                "LOADTEST_TOKEN_SOURCE": "dev",
                "LOADTEST_SIGNING_KEY": str(key_path),
                "LOADTEST_KID": DEV_KID,
                "LOADTEST_ISSUER": DEV_KID,
            },
        )
    if source == "better-auth" and better_auth_url:
        return TokenSetup(
            {}, {"LOADTEST_TOKEN_SOURCE": "better-auth", "LOADTEST_BETTER_AUTH_URL": better_auth_url.rstrip("/")}
        )
    if source == "tokens" and tokens_file:
        return TokenSetup({}, {"LOADTEST_TOKEN_SOURCE": "tokens", "LOADTEST_TOKENS_FILE": str(tokens_file.resolve())})
    if source in {"better-auth", "tokens"}:
        raise ValueError(
            f"token source {source!r} needs {'a Better Auth URL' if source == 'better-auth' else 'a file'}"
        )
    raise ValueError(f"unknown token source {source!r}")


class LocalStack:
    """`with LocalStack(...) as stack:` gives stack.url, stack.token_env and stack.server_pid (and, with
    `metrics=True`, stack.metrics_url: the server's /metrics; off by default, so the benchmark measures the service
    without instrumentation)."""

    def __init__(
        self,
        *,
        token_source: str = "jwks",  # noqa: S107 - a source name
        workers: int = 1,
        database_url: str | None = None,
        log_path: Path | None = None,
        server_env: dict[str, str] | None = None,
        server_source: Path | None = None,
        metrics: bool = False,
    ) -> None:
        self.token_source = token_source
        self.workers = workers
        self.database_url = database_url
        self.log_path = log_path
        self.extra_env = server_env or {}
        self.server_source = server_source  # another checkout's backend/, e.g. to compare with a previous release
        self.metrics = metrics
        self._stack = ExitStack()
        self.url = ""
        self.metrics_url: str | None = None
        self.token_env: dict[str, str] = {}
        self.trusts: dict[str, str] = {}  # how the server is told whom to trust (BETTER_AUTH_URL, ...)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def server_pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stack.close()

    def _start(self) -> None:
        workdir = Path(tempfile.mkdtemp(prefix="todo-load-"))
        self._stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        tokens = prepare_tokens(self.token_source, workdir, self._stack)
        database_url = self.database_url = self.database_url or self._embedded_postgres(workdir)
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
        env.update({"TODO_DATA_DIR": str(workdir), "DATABASE_URL": database_url, "TODO_LOG_LEVEL": "WARNING"})
        env.update(tokens.server_env)
        if self.metrics:
            metrics_port = free_port()
            env["TODO_METRICS_PORT"] = str(metrics_port)
            self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        env.update(self.extra_env)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = (self.log_path or workdir / "server.log").open("ab")
        self._stack.callback(log.close)
        command = [sys.executable, "-m", "backend.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        if self.server_source is not None:
            # This checkout's migrations are expand-only, so an older backend serves on their schema; migrating here
            # lets this checkout's tools (the bench's reference server) run their SQL on the same database.
            from backend.db.migrate import upgrade

            upgrade(database_url)
            command.append("--no-migrate")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [*command, "--workers", str(self.workers)],
            env=env,
            cwd=self.server_source,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._stack.callback(_stop, self.process)
        wait_ready(self.url, self.process)
        self.token_env = tokens.token_env
        self.trusts = tokens.server_env

    def _embedded_postgres(self, workdir: Path) -> str:
        from backend.db.embedded import start_embedded_postgres

        server, url = start_embedded_postgres(workdir)
        self._stack.callback(server.cleanup)
        return url


def _stop(process: subprocess.Popen[Any]) -> None:
    """SIGTERM (uvicorn's graceful shutdown, which also stops its workers), then SIGKILL the process group."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
