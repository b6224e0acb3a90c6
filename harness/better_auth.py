"""Better Auth's own HTTP API, used the way the real frontend uses it: sign up or sign in with email and password,
keep the session cookie, and take the API's JWT from /api/auth/token (again whenever it is about to expire)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
import jwt

from harness.exchange import remember
from harness.users import ApiUser, new_user_id

RENEW_MARGIN_SECONDS = 120.0  # a browser renews a little before exp


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    name: str


def new_account(prefix: str) -> Account:
    """A throwaway account: spec-<prefix>-<random>@example.test."""
    return Account(email=f"{new_user_id(prefix)}@example.test", password=secrets.token_urlsafe(18), name=prefix)


class BetterAuthError(RuntimeError):
    """Better Auth refused or failed a call; the message says which and how, never a password or token."""


def expires_at(token: str) -> float:
    exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    return float(exp) if isinstance(exp, int | float) else 0.0


class Browser:
    """One browser session against a Better Auth deployment: its cookie jar is the session."""

    def __init__(self, base_url: str, timeout: float = 10.0, renew_margin: float = RENEW_MARGIN_SECONDS) -> None:
        self.base_url = base_url.rstrip("/")
        self.renew_margin = renew_margin
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, headers={"Origin": self.base_url})
        self._token: str | None = None

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(path, json=body)
        if response.status_code != 200:
            raise BetterAuthError(f"POST {self.base_url}{path} answered {response.status_code}: {response.text[:200]}")
        data: dict[str, Any] = response.json()
        return data

    def sign_up(self, account: Account) -> str:
        """Register by email and password (Better Auth signs the new user in); returns Better Auth's user id."""
        user_id: str = self._post("/api/auth/sign-up/email", vars(account))["user"]["id"]
        return user_id

    def sign_in(self, account: Account) -> str:
        user_id: str = self._post("/api/auth/sign-in/email", {"email": account.email, "password": account.password})[
            "user"
        ]["id"]
        if not self.http.cookies:
            raise BetterAuthError("sign-in set no session cookie")
        return user_id

    def token(self) -> str:
        """The JWT for the signed-in session, as the frontend gets it from the JWT plugin."""
        response = self.http.get("/api/auth/token")
        if response.status_code != 200:
            raise BetterAuthError(f"GET {self.base_url}/api/auth/token answered {response.status_code}")
        token: str = response.json()["token"]
        self._token = token
        return remember(token, f"EdDSA, issued by Better Auth at {self.base_url} (GET /api/auth/token)")

    def fresh_token(self) -> str:
        """The current token, renewed through /api/auth/token when it expires within the margin."""
        if self._token is None or expires_at(self._token) - time.time() < self.renew_margin:
            return self.token()
        return self._token

    def delete_user(self) -> bool:
        """Best effort: Better Auth deletes users only when its deleteUser option is on."""
        response = self.http.post("/api/auth/delete-user", json={})
        return response.status_code == 200


def jwks(base_url: str) -> dict[str, Any]:
    response = httpx.get(f"{base_url.rstrip('/')}/api/auth/jwks", timeout=10)
    response.raise_for_status()
    keys: dict[str, Any] = response.json()
    return keys


def kid_of(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


def registered_user(base_url: str, prefix: str) -> ApiUser:
    """Sign up, sign in on a fresh browser, and fetch a token: a user exactly as the frontend would have one."""
    account = new_account(prefix)
    with Browser(base_url) as browser:
        browser.sign_up(account)
    with Browser(base_url) as browser:
        return ApiUser(id=browser.sign_in(account), token=browser.token())
