"""Credentials for virtual users: who each one is (its user id) and the token it sends, from the same sources as the
spec suite (harness/credentials.py).

The runner describes the source in LOADTEST_* environment variables, so every Locust process (master, local
workers, workers on other machines) builds its own source without talking to the runner:

- jwks / dev: LOADTEST_SIGNING_KEY (an Ed25519 private key, PEM), LOADTEST_KID, LOADTEST_ISSUER (iss and aud).
  jwks is the harness's own issuer (harness/issuer.py) that the server trusts through BETTER_AUTH_URL;
  dev is the server's dev-mode key in its TODO_DATA_DIR (kid and issuer "todo-api-dev").
- secret: LOADTEST_JWT_SECRET (the server's BETTER_AUTH_SECRET, HS256), optional LOADTEST_ISSUER/LOADTEST_AUDIENCE.
  These three mint through harness.tokens (the one token minter), for fresh `load-...` user ids; LOADTEST_TOKEN_TTL
  is the tokens' lifetime (Better Auth's 900 s by default).
- better-auth: LOADTEST_BETTER_AUTH_URL, the target's Better Auth. Each virtual user signs up its own throwaway
  account (spec-load-...@example.test) with a harness.better_auth.Browser, is Better Auth's user id, and takes its
  token from Browser.fresh_token() before each request: GET /api/auth/token again whenever the token expires within
  the renewal margin, as the frontend does. A sign-up that fails stops that virtual user (a rate-limited one, 429,
  is retried for up to SIGN_UP_PATIENCE_SECONDS first); the failure is a request failure in the report.
- tokens: LOADTEST_TOKENS_FILE, pre-issued tokens (harness.credentials.load_tokens_file: `{"users": [{"token": ...,
  "id": optional}]}` or a bare list, two users at least). Virtual users take the file's users round-robin, so several
  may share one account: each then has its own title marker "<user id> vu-<tag>" and acts only on its own tasks,
  while a task of a sibling on the same account is no breach (loadtests/checks.py, OwnTasks.account). These tokens
  are never renewed: one that expires within the margin is logged, an expired one stops its virtual users and is
  reported as a failure.

LOADTEST_RENEW_MARGIN (seconds, default Better Auth's client's 120) is when a token counts as about to expire, for
every source; above the tokens' lifetime, every request renews.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness import better_auth
from harness.credentials import load_tokens_file
from harness.tokens import DEFAULT_TTL_SECONDS, EdDSASigner, HS256Signer, Minter

TOKEN_SOURCES = ("jwks", "secret", "dev", "better-auth", "tokens")
DEPLOYMENT_ONLY_SOURCES = ("better-auth", "tokens")  # credentials a deployment trusts; a local stack does not
DEV_KID = "todo-api-dev"  # backend.auth.dev_keys.DEV_KID / DEV_ISSUER
SIGN_UP_PATH = "/api/auth/sign-up/email"
TOKEN_PATH = "/api/auth/token"  # noqa: S105 - a path
SIGN_UP_PATIENCE_SECONDS = 60.0  # how long a rate-limited (429) sign-up is retried before the virtual user stops
_RATE_LIMITED = re.compile(r" answered 429\b")  # harness.better_auth.BetterAuthError's wording

log = logging.getLogger("loadtests")


class CredentialError(Exception):
    """A virtual user could not get (or keep) its credentials. It is reported as a failed request `method name` in
    Locust's statistics (so the run breaches its error budget); `fatal` means the virtual user cannot go on."""

    def __init__(self, message: str, *, method: str, name: str, fatal: bool, elapsed_ms: float = 0.0) -> None:
        super().__init__(message)
        self.method = method
        self.name = name
        self.fatal = fatal
        self.elapsed_ms = elapsed_ms


class Identity:
    """One virtual user's credentials: its user id, the marker its task titles carry, and a token per request."""

    def __init__(self, user_id: str, marker: str | None = None) -> None:
        self.user_id = user_id
        self.marker = marker or user_id

    def token(self) -> str:
        """The token for the next request (renewed when the source can and it is about to expire)."""
        raise NotImplementedError

    def close(self) -> None:
        """The virtual user stopped."""


class TokenSource:
    """Where virtual users' identities come from; `counts` gathers what happened (sign-ups, tokens fetched, ...)."""

    name = ""

    def __init__(self, counts: Counter[str] | None = None) -> None:
        self.counts: Counter[str] = Counter() if counts is None else counts

    def identity(self) -> Identity:
        """A new virtual user's identity; raises CredentialError when none can be had."""
        raise NotImplementedError

    def summary(self) -> dict[str, Any]:
        return {"source": self.name}


# --- minted: jwks, dev, secret ---


class MintedIdentity(Identity):
    def __init__(self, user_id: str, minter: Minter, ttl: int, margin: float, counts: Counter[str]) -> None:
        super().__init__(user_id)
        self.minter, self.ttl, self.margin, self.counts = minter, ttl, margin, counts
        self._token: str | None = None
        self._expires_at = 0.0

    def token(self) -> str:
        now = time.time()
        if self._token is None or self._expires_at - now < self.margin:
            self._token = self.minter.mint(self.user_id, ttl=self.ttl)  # like a browser renewing its token
            self._expires_at = now + self.ttl
            self.counts["tokens_minted"] += 1
        return self._token


class MintedSource(TokenSource):
    def __init__(self, name: str, minter: Minter, ttl: int, margin: float, counts: Counter[str] | None = None) -> None:
        super().__init__(counts)
        self.name, self.minter, self.ttl, self.margin = name, minter, ttl, margin

    def identity(self) -> Identity:
        return MintedIdentity(f"load-{uuid.uuid4().hex[:16]}", self.minter, self.ttl, self.margin, self.counts)


def ed25519_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def minter_from_env(env: Mapping[str, str]) -> Minter:
    """The harness.tokens Minter for a minted source (jwks, dev, secret) described by LOADTEST_* variables."""
    source = env.get("LOADTEST_TOKEN_SOURCE", "")
    if source == "secret":
        return Minter(
            signer=HS256Signer(env["LOADTEST_JWT_SECRET"]),
            issuer=env.get("LOADTEST_ISSUER") or None,
            audience=env.get("LOADTEST_AUDIENCE") or None,
            algorithm="HS256",
        )
    if source in {"jwks", "dev"}:
        kid, issuer = env["LOADTEST_KID"], env["LOADTEST_ISSUER"]
        signer = EdDSASigner(ed25519_key(Path(env["LOADTEST_SIGNING_KEY"])), kid, label=f"the {source} signing key")
        return Minter(signer=signer, issuer=issuer, audience=issuer, algorithm="EdDSA", trusted_kid=kid)
    raise ValueError(f"LOADTEST_TOKEN_SOURCE {source!r} does not mint (minting sources: jwks, secret, dev)")


# --- better-auth ---


class BrowserIdentity(Identity):
    """A throwaway Better Auth account signed in in its own browser session (cookie jar)."""

    def __init__(self, browser: better_auth.Browser, user_id: str) -> None:
        super().__init__(user_id)
        self.browser = browser

    def token(self) -> str:
        started = time.monotonic()
        try:
            return self.browser.fresh_token()  # GET /api/auth/token when the token expires within the margin
        except (better_auth.BetterAuthError, httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
            raise CredentialError(
                f"Better Auth did not renew the token of {self.user_id}: {_reason(exc)}",
                method="GET",
                name=TOKEN_PATH,
                fatal=False,
                elapsed_ms=(time.monotonic() - started) * 1000,
            ) from exc

    def close(self) -> None:
        self.browser.close()


class BetterAuthSource(TokenSource):
    name = "better-auth"

    def __init__(
        self,
        base_url: str,
        counts: Counter[str] | None = None,
        *,
        renew_margin: float | None = None,
        patience: float = SIGN_UP_PATIENCE_SECONDS,
        browser_factory: Callable[..., better_auth.Browser] = better_auth.Browser,
    ) -> None:
        super().__init__(counts)
        self.base_url = base_url.rstrip("/")
        self.patience = patience
        self.browser_factory = browser_factory
        self.renew_margin = better_auth.RENEW_MARGIN_SECONDS if renew_margin is None else renew_margin

    def summary(self) -> dict[str, Any]:
        return {"source": self.name, "better_auth_url": self.base_url}

    def _count_calls(self, response: httpx.Response) -> None:
        """Every response Better Auth gave a virtual user's browser, counted on the wire."""
        if response.request.url.path == TOKEN_PATH and response.status_code == 200:
            self.counts["token_endpoint_calls"] += 1

    def identity(self) -> Identity:
        browser = self.browser_factory(self.base_url, renew_margin=self.renew_margin)
        browser.http.event_hooks["response"].append(self._count_calls)
        started = time.monotonic()
        deadline = started + self.patience
        while True:
            try:
                user_id = browser.sign_up(better_auth.new_account("load"))
            except better_auth.BetterAuthError as exc:
                if _RATE_LIMITED.search(str(exc)) and time.monotonic() < deadline:
                    self.counts["sign_ups_rate_limited"] += 1
                    time.sleep(min(random.uniform(1.0, 5.0), max(deadline - time.monotonic(), 0.0)))
                    continue
                self._sign_up_failed(browser, exc, started)
            except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
                self._sign_up_failed(browser, exc, started)
            else:
                self.counts["sign_ups"] += 1
                return BrowserIdentity(browser, user_id)

    def _sign_up_failed(self, browser: better_auth.Browser, exc: Exception, started: float) -> None:
        browser.close()
        raise CredentialError(
            f"Better Auth at {self.base_url} did not sign up a virtual user: {_reason(exc)}",
            method="POST",
            name=SIGN_UP_PATH,
            fatal=True,
            elapsed_ms=(time.monotonic() - started) * 1000,
        ) from exc


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


# --- tokens file ---


class FileIdentity(Identity):
    """A user of the tokens file; its token is used as it is until it expires (never renewed)."""

    def __init__(
        self, user_id: str, token: str, marker: str, file_name: str, margin: float, counts: Counter[str]
    ) -> None:
        super().__init__(user_id, marker)
        self._token, self.file_name, self.margin, self.counts = token, file_name, margin, counts
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
        self.expires_at = float(exp) if isinstance(exp, int | float) else math.inf
        self._warned = False

    def token(self) -> str:
        remaining = self.expires_at - time.time()
        if remaining <= 0:
            raise CredentialError(
                f"the token of {self.user_id} in {self.file_name} has expired (tokens from a file are not renewed)",
                method="TOKEN",
                name="[tokens file] expired token",
                fatal=True,
            )
        if remaining < self.margin and not self._warned:
            self._warned = True
            self.counts["expiring_tokens"] += 1
            log.warning(
                "the token of %s in %s expires in %.0f s and is not renewed (tokens from a file); "
                "its virtual users stop then",
                self.user_id,
                self.file_name,
                remaining,
            )
        return self._token


class FileSource(TokenSource):
    name = "tokens"

    def __init__(
        self, path: Path, counts: Counter[str] | None = None, *, margin: float, start: int | None = None
    ) -> None:
        super().__init__(counts)
        self.path = path
        self.users = load_tokens_file(path)
        self.margin = margin
        self.start = start
        self._next: Iterator[int] | None = None

    def summary(self) -> dict[str, Any]:
        return {"source": self.name, "users_in_file": len({user.id for user in self.users})}

    def identity(self) -> Identity:
        if self._next is None:
            # Round-robin from a random place (chosen at the first virtual user, after Locust forked its workers),
            # so several Locust processes do not all pile onto the file's first users.
            self._next = itertools.count(random.randrange(len(self.users)) if self.start is None else self.start)
        user = self.users[next(self._next) % len(self.users)]
        self.counts["virtual_users"] += 1
        marker = f"{user.id} vu-{uuid.uuid4().hex[:8]}"  # distinct per virtual user, prefixed by the account's id
        return FileIdentity(user.id, user.token, marker, self.path.name, self.margin, self.counts)


# --- from the environment ---


def renew_margin(env: Mapping[str, str]) -> float:
    return float(env.get("LOADTEST_RENEW_MARGIN") or better_auth.RENEW_MARGIN_SECONDS)


def source_from_env(env: Mapping[str, str], counts: Counter[str] | None = None) -> TokenSource:
    source = env.get("LOADTEST_TOKEN_SOURCE", "")
    margin = renew_margin(env)
    if source == "better-auth":
        explicit_margin = margin if env.get("LOADTEST_RENEW_MARGIN") else None
        return BetterAuthSource(env["LOADTEST_BETTER_AUTH_URL"], counts, renew_margin=explicit_margin)
    if source == "tokens":
        return FileSource(Path(env["LOADTEST_TOKENS_FILE"]), counts, margin=margin)
    if source in {"jwks", "secret", "dev"}:
        ttl = int(env.get("LOADTEST_TOKEN_TTL") or DEFAULT_TTL_SECONDS)
        return MintedSource(source, minter_from_env(env), ttl, margin, counts)
    raise ValueError(f"LOADTEST_TOKEN_SOURCE must be one of {', '.join(TOKEN_SOURCES)} (got {source!r})")


def write_private_key(key: Ed25519PrivateKey, path: Path) -> Path:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.touch(mode=0o600)
    path.write_bytes(pem)
    return path
