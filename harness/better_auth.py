"""Drives the real Better Auth server of interop/better-auth/ (Node): install, migrate, serve, and its HTTP API."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field

import httpx
import jwt
from sqlalchemy.engine import URL

from harness import ROOT
from harness.net import free_port
from harness.users import ApiUser, new_user_id

PROJECT = ROOT / "interop" / "better-auth"
START_TIMEOUT_SECONDS = 20


def node_missing_reason() -> str | None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not installed: the Better Auth interop tests need Node 20+" if missing else None


def install() -> None:
    """`npm ci` from the committed lockfile, unless node_modules already matches it."""
    installed = PROJECT / "node_modules" / ".package-lock.json"
    lockfile = PROJECT / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lockfile.stat().st_mtime:
        return
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PROJECT, check=True, timeout=300)


def node_database_url(server: URL, dbname: str) -> str:
    """The same database as a libpq-style URL node-postgres reads (`?host=/dir` for a unix socket)."""
    return server.set(drivername="postgresql", database=dbname).render_as_string(hide_password=False)


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
        response = httpx.get(f"{self.base_url}/api/auth/jwks", timeout=5)
        response.raise_for_status()
        return {key["kid"] for key in response.json()["keys"]}

    def client(self) -> httpx.Client:
        """A browser-like client: keeps Better Auth's session cookie."""
        return httpx.Client(base_url=self.base_url, timeout=10, headers={"Origin": self.base_url})


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    name: str


def new_account(prefix: str) -> Account:
    return Account(email=f"{new_user_id(prefix)}@example.test", password=secrets.token_urlsafe(18), name=prefix)


def sign_up(auth: BetterAuthServer, account: Account) -> str:
    """Register by email and password; returns Better Auth's user id."""
    with auth.client() as browser:
        response = browser.post("/api/auth/sign-up/email", json=vars(account))
    assert response.status_code == 200, response.text
    user_id: str = response.json()["user"]["id"]
    return user_id


def sign_in(browser: httpx.Client, account: Account) -> str:
    response = browser.post("/api/auth/sign-in/email", json={"email": account.email, "password": account.password})
    assert response.status_code == 200, response.text
    assert browser.cookies, "sign-in set no session cookie"
    user_id: str = response.json()["user"]["id"]
    return user_id


def fetch_token(browser: httpx.Client) -> str:
    """The JWT for the signed-in session, as a frontend gets it from the JWT plugin."""
    response = browser.get("/api/auth/token")
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def registered_user(auth: BetterAuthServer, prefix: str) -> ApiUser:
    """Sign up, sign in on a fresh browser, and fetch a token: a user exactly as the frontend would have one."""
    account = new_account(prefix)
    sign_up(auth, account)
    with auth.client() as browser:
        user_id = sign_in(browser, account)
        return ApiUser(id=user_id, token=fetch_token(browser))


def kid_of(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid
