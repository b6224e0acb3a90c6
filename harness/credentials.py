"""Where the users of a run come from, and the one Minter that goes with them.

- minted (the default, and `--jwt-secret`): fresh user ids of the harness's choosing, with tokens it signs the way
  the target trusts (its own JWKS issuer, or the target's HS256 secret). Every check can run.
- `--better-auth-url`: throwaway users signed up through Better Auth's own email/password API, their JWTs taken from
  /api/auth/token as the frontend takes them. The target is tested exactly as deployed; checks that need the
  signing key (a signed but expired token, a wrong aud) could not run.
- `--tokens FILE`: pre-issued tokens of two or more users; the same limits as Better Auth.

Each test leases the users it needs; at the end of the test they are cleaned (every task deleted) and, for the two
real-credential sources, go back to a pool, so a run needs only a few accounts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt

from harness import better_auth
from harness.exchange import remember
from harness.issuer import TokenIssuer
from harness.tokens import EdDSASigner, HS256Signer, Minter
from harness.users import DEFAULT_PATHS, ApiUser, TaskPaths, new_user_id
from harness.verdicts import could_not_run

MIN_FILE_USERS = 2


@dataclass
class PooledUser:
    user: ApiUser
    renew: Callable[[], str] | None = None  # a fresh token for the same user, when the source can renew

    def current(self) -> ApiUser:
        if self.renew is None:
            return self.user
        token = self.renew()
        if token != self.user.token:
            self.user = ApiUser(self.user.id, token, self.user.paths)
        return self.user


class Credentials:
    """A source of users. `lease()` gives one test its users; `release` returns them once they are clean."""

    description = ""
    chooses_ids = False  # whether users with ids of the test's choosing exist (case and prefix variants)

    def __init__(self, minter: Minter, paths: TaskPaths = DEFAULT_PATHS) -> None:
        self.minter = minter
        self.paths = paths

    def user(self, prefix: str) -> ApiUser:
        raise NotImplementedError

    def user_with_id(self, user_id: str) -> ApiUser:
        could_not_run(f"needs users with ids of the harness's choosing, which {self.description} cannot provide")

    def release(self, user: ApiUser, clean: bool) -> None:
        """The test is done with `user`; `clean` says whether every task it owns is gone."""

    def close(self) -> None:
        """The run is over."""


class UserLease:
    """One test's users: `lease("victim")` for a user, `lease.with_id(...)` for a chosen id (minted sources only)."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self.users: list[ApiUser] = []

    def _keep(self, user: ApiUser) -> ApiUser:
        self.users.append(user)
        return user

    def __call__(self, prefix: str = "user") -> ApiUser:
        try:
            return self._keep(self.credentials.user(prefix))
        except better_auth.BetterAuthError as exc:
            could_not_run(f"Better Auth could not make a user: {exc}")

    def with_id(self, user_id: str) -> ApiUser:
        return self._keep(self.credentials.user_with_id(user_id))


class MintedCredentials(Credentials):
    chooses_ids = True

    def __init__(self, minter: Minter, paths: TaskPaths = DEFAULT_PATHS, description: str = "") -> None:
        super().__init__(minter, paths)
        self.description = description

    def user(self, prefix: str) -> ApiUser:
        return self.user_with_id(new_user_id(prefix))

    def user_with_id(self, user_id: str) -> ApiUser:
        return ApiUser(user_id, self.minter.mint(user_id), self.paths)


class PooledCredentials(Credentials):
    """Users that cost something to make (an account) or cannot be made at all (a file): reused once clean."""

    def __init__(self, minter: Minter, paths: TaskPaths = DEFAULT_PATHS) -> None:
        super().__init__(minter, paths)
        self.idle: list[PooledUser] = []
        self.leased: dict[str, PooledUser] = {}
        self.retired: list[str] = []

    def make(self, prefix: str) -> PooledUser | None:
        """A new user, or None when the source has no more."""
        return None

    def user(self, prefix: str) -> ApiUser:
        pooled = self.idle.pop(0) if self.idle else self.make(prefix)
        if pooled is None:
            could_not_run(f"needs more users at once than {self.description} provides ({len(self.leased)} in use)")
        user = pooled.current()
        self.leased[user.id] = pooled
        return user

    def release(self, user: ApiUser, clean: bool) -> None:
        pooled = self.leased.pop(user.id, None)
        if pooled is None:
            return
        if clean:
            self.idle.append(pooled)
        else:
            self.retired.append(user.id)  # tasks it could not delete would disturb the next test


class BetterAuthCredentials(PooledCredentials):
    def __init__(self, base_url: str, paths: TaskPaths = DEFAULT_PATHS) -> None:
        self.base_url = base_url.rstrip("/")
        self.description = f"Better Auth at {self.base_url}"
        self.browsers: list[better_auth.Browser] = []
        first = self._sign_up("user", paths)
        super().__init__(minter_like(first.user.token, better_auth.jwks(self.base_url), self.description), paths)
        self.idle.append(first)

    def _sign_up(self, prefix: str, paths: TaskPaths) -> PooledUser:
        browser = better_auth.Browser(self.base_url)
        self.browsers.append(browser)
        user_id = browser.sign_up(better_auth.new_account(prefix))
        return PooledUser(ApiUser(user_id, browser.token(), paths), renew=browser.fresh_token)

    def make(self, prefix: str) -> PooledUser | None:
        return self._sign_up(prefix, self.paths)

    def close(self) -> None:
        for browser in self.browsers:
            browser.delete_user()
            browser.close()


class FileCredentials(PooledCredentials):
    def __init__(self, path: Path, paths: TaskPaths = DEFAULT_PATHS, jwks_url: str | None = None) -> None:
        self.description = f"the tokens in {path}"
        users = load_tokens_file(path, paths)
        jwks = fetch_jwks(jwks_url or _jwks_url_from(users[0].token))
        super().__init__(minter_like(users[0].token, jwks, self.description), paths)
        self.idle = [PooledUser(user) for user in users]

    def share(self, worker: int, workers: int) -> None:
        """Under xdist each worker takes its own users, so no two tests share one at the same time."""
        self.idle = self.idle[worker::workers]


def load_tokens_file(path: Path, paths: TaskPaths = DEFAULT_PATHS) -> list[ApiUser]:
    """`{"users": [{"token": ..., "id": optional}]}` or a bare list; ids default to each token's sub."""
    data: Any = json.loads(path.read_text(encoding="utf-8"))
    entries = data.get("users", []) if isinstance(data, dict) else data
    users = []
    for entry in entries:
        token = entry if isinstance(entry, str) else entry.get("token")
        claims = jwt.decode(token, options={"verify_signature": False})
        user_id = (entry.get("id") if isinstance(entry, dict) else None) or claims.get("sub")
        if not isinstance(user_id, str) or not user_id:
            raise ValueError(f"{path}: a token without a usable sub needs an explicit id")
        if isinstance(claims.get("exp"), int | float) and claims["exp"] < time.time() + 60:
            raise ValueError(f"{path}: the token of {user_id} has expired or expires within a minute")
        users.append(ApiUser(user_id, remember(token, f"pre-issued (--tokens {path.name})"), paths))
    if len({user.id for user in users}) < MIN_FILE_USERS:
        raise ValueError(f"{path}: needs tokens of at least {MIN_FILE_USERS} different users")
    return users


def _jwks_url_from(token: str) -> str | None:
    issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
    if isinstance(issuer, str) and issuer.startswith(("http://", "https://")):
        return f"{issuer.rstrip('/')}/api/auth/jwks"  # Better Auth's default: iss is its base URL
    return None


def fetch_jwks(url: str | None) -> dict[str, Any] | None:
    if not url:
        return None
    try:
        response = httpx.get(url, timeout=10)
        data = response.json() if response.is_success else None
    except (httpx.HTTPError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def minter_like(token: str, jwks: dict[str, Any] | None, source: str) -> Minter:
    """A minter that shapes claims like `token` (iss, aud, algorithm, kid) but cannot sign as the target trusts."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    audience = claims.get("aud")
    return Minter(
        signer=None,
        issuer=claims.get("iss") if isinstance(claims.get("iss"), str) else None,
        audience=audience if isinstance(audience, str) else None,
        algorithm=str(header.get("alg", "EdDSA")),
        trusted_kid=header.get("kid") if isinstance(header.get("kid"), str) else None,
        trusted_jwks=jwks,
        why_unsigned=f"its tokens come from {source}",
    )


def issuer_minter(issuer: TokenIssuer) -> Minter:
    key = issuer.current_key
    return Minter(
        signer=EdDSASigner(key.private, key.kid),
        issuer=issuer.base_url,
        audience=issuer.base_url,
        algorithm="EdDSA",
        trusted_kid=key.kid,
        trusted_jwks=issuer.jwks(),
    )


def secret_minter(secret: str | bytes, issuer: str | None = None, audience: str | None = None) -> Minter:
    return Minter(signer=HS256Signer(secret), issuer=issuer, audience=audience, algorithm="HS256")


@dataclass
class Sources:
    """What the command line chose: exactly one of these is set, else the harness issuer is used."""

    jwt_secret: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    better_auth_url: str | None = None
    tokens_file: Path | None = None
    jwks_url: str | None = None
    chosen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.chosen = [
            name
            for name, value in (
                ("--jwt-secret", self.jwt_secret),
                ("--better-auth-url", self.better_auth_url),
                ("--tokens", self.tokens_file),
            )
            if value
        ]
        if len(self.chosen) > 1:
            raise ValueError(f"choose one credential source, not {' and '.join(self.chosen)}")


def build_credentials(sources: Sources, issuer: TokenIssuer | None, paths: TaskPaths) -> Credentials:
    if sources.better_auth_url:
        return BetterAuthCredentials(sources.better_auth_url, paths)
    if sources.tokens_file:
        return FileCredentials(sources.tokens_file, paths, sources.jwks_url)
    if sources.jwt_secret:
        minter = secret_minter(sources.jwt_secret, sources.jwt_issuer, sources.jwt_audience)
        return MintedCredentials(minter, paths, "HS256 tokens signed with the target's secret")
    assert issuer is not None
    return MintedCredentials(issuer_minter(issuer), paths, f"EdDSA tokens from the harness issuer at {issuer.base_url}")
