"""Token verification: one verifier per auth mode, every failure an AuthError, successes cached until `exp`."""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from backend.auth.jwks import JwksKeyStore, SigningKeyNotFoundError
from backend.auth.principal import Principal
from backend.db.models import USER_ID_MAX
from backend.metrics import NOOP, Recorder
from backend.settings import AuthMode, Settings

log = logging.getLogger("backend.auth")

MAX_TOKEN_CHARS = 8192
MAX_KID_CHARS = 256
MAX_NUMERIC_DATE = 2**53  # beyond this a float loses whole seconds
_REQUIRED_CLAIMS = ("exp", "iat", "sub")
_SUB_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")


class AuthError(Exception):
    """A token was presented and refused. `reason` is a short, fixed phrase: never token text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenVerifier:
    """Verifies compact JWS tokens against a key source; subclasses say where keys come from."""

    def __init__(
        self,
        *,
        algorithms: list[str],
        issuer: str | None,
        audience: str | None,
        leeway_seconds: int,
        cache_size: int,
        cache_seconds: float,
        clock: Callable[[], float] = time.time,
        metrics: Recorder = NOOP,
    ) -> None:
        self.algorithms = algorithms
        self.issuer = issuer
        self.audience = audience
        self.leeway_seconds = leeway_seconds
        self._cache: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._cache_size = cache_size
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._metrics = metrics

    def cached(self, token: str) -> Principal | None:
        """The principal of a token this verifier accepted before, until its cache entry expires (a hit); else None.

        Synchronous, so the common case (every request of a signed-in user after their first) awaits nothing."""
        cached = self._cache.get(token)
        if cached is not None:
            if cached[1] > self._clock():
                self._cache.move_to_end(token)
                self._metrics.token_cache_hit()
                return cached[0]
            del self._cache[token]
        return None

    async def verify(self, token: str) -> Principal:
        principal = self.cached(token)
        return principal if principal is not None else await self.verify_uncached(token)

    async def verify_uncached(self, token: str) -> Principal:
        """Verifies the token and caches the outcome if it is accepted (a miss: call `cached` first)."""
        now = self._clock()
        self._metrics.token_cache_miss()
        principal, exp = await self._principal_and_expiry(token)
        self._remember(token, principal, min(exp + self.leeway_seconds, now + self._cache_seconds))
        return principal

    def _remember(self, token: str, principal: Principal, until: float) -> None:
        if self._cache_size == 0:
            return
        self._cache[token] = (principal, until)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def _principal_and_expiry(self, token: str) -> tuple[Principal, float]:
        if len(token) > MAX_TOKEN_CHARS:
            raise AuthError("token too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("malformed token") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise AuthError("algorithm not allowed")
        if "crit" in header:
            raise AuthError("unsupported critical header")
        key = await self._key_for(header)
        claims = self._decode(token, key, alg)
        return _principal_from(claims), float(claims["exp"])

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        required = [*_REQUIRED_CLAIMS]
        if self.issuer is not None:
            required.append("iss")
        if self.audience is not None:
            required.append("aud")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway_seconds,
                options={"require": required, "verify_aud": self.audience is not None, "strict_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("token not yet valid") from None
        except jwt.InvalidIssuerError:
            raise AuthError("wrong issuer") from None
        except jwt.InvalidAudienceError:
            raise AuthError("wrong audience") from None
        except jwt.MissingRequiredClaimError:
            raise AuthError("missing claim") from None
        except jwt.InvalidSignatureError:
            raise AuthError("signature verification failed") from None
        except Exception as exc:  # noqa: BLE001 - whatever the library raises is a refused token, never a 500
            # pragma: no mutate start (log text, not behaviour)
            log.info("token refused: %s", type(exc).__name__)
            # pragma: no mutate end
            raise AuthError("invalid token") from None
        if not all(_is_numeric_date(claims[name]) for name in ("exp", "iat", "nbf") if name in claims):
            raise AuthError("invalid time claim")
        if claims["iat"] > self._clock() + self.leeway_seconds:
            raise AuthError("token not yet valid")
        return claims

    async def _key_for(self, header: dict[str, Any]) -> Any:
        raise NotImplementedError


def _is_numeric_date(value: object) -> bool:
    # RFC 7519 wants a JSON number. PyJWT int()s the value, so "9999999999" would pass it, and a 400-digit
    # integer passes it but cannot become a float later: both are refused here.
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    return -MAX_NUMERIC_DATE < value < MAX_NUMERIC_DATE


def _principal_from(claims: dict[str, Any]) -> Principal:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > USER_ID_MAX or _SUB_FORBIDDEN.search(sub):
        raise AuthError("invalid subject")
    email, name = claims.get("email"), claims.get("name")
    return Principal(
        user_id=sub,
        email=email if isinstance(email, str) else None,
        name=name if isinstance(name, str) else None,
    )


class JwksVerifier(TokenVerifier):
    """Better Auth's JWT plugin: asymmetric keys from its JWKS endpoint, picked by `kid`."""

    def __init__(self, key_store: JwksKeyStore, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.key_store = key_store

    async def _key_for(self, header: dict[str, Any]) -> Any:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_CHARS:
            raise AuthError("missing or invalid key id")
        try:
            key = await self.key_store.key_for(kid)
        except SigningKeyNotFoundError:
            raise AuthError("unknown signing key") from None
        if key.algorithm_name != header["alg"]:
            raise AuthError("algorithm does not match key")
        return key


class StaticKeyVerifier(TokenVerifier):
    """One fixed key: the shared HS256 secret, or dev mode's local Ed25519 public key."""

    def __init__(self, key: bytes | Ed25519PublicKey, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._key = key

    async def _key_for(self, header: dict[str, Any]) -> Any:
        return self._key


def build_verifier(settings: Settings, metrics: Recorder = NOOP) -> TokenVerifier:
    common: dict[str, Any] = {
        "issuer": settings.expected_issuer,
        "audience": settings.expected_audience,
        "leeway_seconds": settings.jwt_leeway_seconds,
        "cache_size": settings.verified_token_cache_size,
        "cache_seconds": settings.jwks_cache_seconds,
        "metrics": metrics,
    }
    if settings.better_auth_secret is not None:  # AuthMode.SECRET: the secret decides the mode
        secret = settings.better_auth_secret.get_secret_value().encode()
        return StaticKeyVerifier(secret, algorithms=["HS256"], **common)
    if settings.auth_mode is AuthMode.JWKS:
        store = JwksKeyStore(
            settings.jwks_url,
            allowed_algorithms=frozenset(settings.jwt_algorithms),
            cache_seconds=settings.jwks_cache_seconds,
            refetch_cooldown_seconds=settings.jwks_refetch_cooldown_seconds,
            timeout_seconds=settings.jwks_timeout_seconds,
            metrics=metrics,
        )
        return JwksVerifier(store, algorithms=list(settings.jwt_algorithms), **common)
    from backend.auth.dev_keys import load_or_create_dev_key

    # pragma: no mutate start (log text, not behaviour)
    log.warning("DEV MODE: tokens are signed by a local key in %s; never use this in production", settings.data_dir)
    # pragma: no mutate end
    public_key = load_or_create_dev_key(settings.dev_key_path).public_key()
    return StaticKeyVerifier(public_key, algorithms=["EdDSA"], **common)
