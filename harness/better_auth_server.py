"""Drives the real Better Auth server of interop/better-auth/ (Node): install, migrate and serve it on loopback.
Its HTTP API (sign-up, sign-in, tokens) is harness/better_auth.py."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field

import httpx
from sqlalchemy.engine import URL

from harness import ROOT, npm
from harness.better_auth import jwks
from harness.database import libpq_url
from harness.net import free_port

PROJECT = ROOT / "interop" / "better-auth"
START_TIMEOUT_SECONDS = 20


def install() -> None:
    npm.install(PROJECT)


def node_database_url(server: URL, dbname: str) -> str:
    """The same database as a libpq-style URL node-postgres reads (`?host=/dir` for a unix socket)."""
    return libpq_url(server.set(database=dbname).render_as_string(hide_password=False))


@dataclass
class BetterAuthServer:
    """One Better Auth instance: its own port, secret and database; `claim_issuer` overrides its iss and aud."""

    database_url: str
    claim_issuer: str | None = None
    port: int = field(default_factory=free_port)
    secret: str = field(default_factory=lambda: secrets.token_hex(32))
    _process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "BETTER_AUTH_URL": self.base_url,
            "BETTER_AUTH_SECRET": self.secret,
            "PORT": str(self.port),
            "BETTER_AUTH_TELEMETRY": "0",
        }
        if self.claim_issuer:
            env |= {"JWT_ISSUER": self.claim_issuer, "JWT_AUDIENCE": self.claim_issuer}
        return env

    def migrate(self) -> None:
        subprocess.run(["node", "server.mjs", "migrate"], cwd=PROJECT, env=self._env(), check=True, timeout=60)

    def start(self) -> BetterAuthServer:
        self._process = subprocess.Popen(["node", "server.mjs", "serve"], cwd=PROJECT, env=self._env())
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"Better Auth server exited with {self._process.returncode}")
            try:
                if httpx.get(f"{self.base_url}/api/auth/ok", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("Better Auth server did not answer /api/auth/ok in time")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def jwks_kids(self) -> set[str]:
        return {key["kid"] for key in jwks(self.base_url)["keys"]}
