"""Configuration from environment variables (the names are part of the public contract: see README)."""

from __future__ import annotations

import enum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Asymmetric JWS algorithms only: JWKS mode must never accept an HMAC token (algorithm confusion).
ASYMMETRIC_ALGORITHMS = frozenset(
    {"EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
MIN_SECRET_BYTES = 32
# Better Auth signs with this published constant when its own secret is unset (src/utils/constants.ts
# DEFAULT_SECRET; older releases used "better-auth-secret-123456789"): anyone can forge with it.
PUBLIC_SECRETS = frozenset({"better-auth-secret-12345678901234567890"})
DEV_ISSUER = "todo-api-dev"


class AuthMode(enum.StrEnum):
    JWKS = "jwks"
    SECRET = "secret"  # a mode name, not a password  # noqa: S105  # nosec B105
    DEV = "dev"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _blank_is_unset(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _http_url_without_trailing_slash(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise ValueError("BETTER_AUTH_URL must be an http(s) URL")
    return value.rstrip("/") if value else value


def _prepare_threshold(value: str) -> str:
    if value not in {"auto", "none"} and not value.isdigit():
        raise ValueError("DB_PREPARE_THRESHOLD must be 'auto', 'none' or a whole number")
    return value


# What the environment's strings mean before the field's own type checks them.
CsvList = Annotated[list[str], NoDecode, BeforeValidator(_split_csv)]  # "EdDSA, ES256" -> ["EdDSA", "ES256"]
OptionalText = Annotated[str | None, BeforeValidator(_blank_is_unset)]  # VAR= is the same as unset
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_blank_is_unset)]
HttpUrl = Annotated[OptionalText, AfterValidator(_http_url_without_trailing_slash)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    # --- authentication (exactly one mode) ---
    better_auth_url: HttpUrl = Field(default=None, validation_alias="BETTER_AUTH_URL")
    better_auth_secret: OptionalSecret = Field(default=None, validation_alias="BETTER_AUTH_SECRET")
    jwt_jwks_url: OptionalText = Field(default=None, validation_alias="JWT_JWKS_URL")
    jwt_issuer: OptionalText = Field(default=None, validation_alias="JWT_ISSUER")
    jwt_audience: OptionalText = Field(default=None, validation_alias="JWT_AUDIENCE")
    jwt_algorithms: CsvList = Field(default_factory=lambda: ["EdDSA"], validation_alias="JWT_ALGORITHMS")
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=30, validation_alias="JWT_LEEWAY_SECONDS")
    jwks_cache_seconds: float = Field(default=300.0, gt=0, validation_alias="JWKS_CACHE_SECONDS")
    jwks_refetch_cooldown_seconds: float = Field(default=30.0, ge=0, validation_alias="JWKS_REFETCH_COOLDOWN_SECONDS")
    jwks_timeout_seconds: float = Field(default=3.0, gt=0, validation_alias="JWKS_TIMEOUT_SECONDS")
    verified_token_cache_size: int = Field(default=4096, ge=0, validation_alias="TOKEN_CACHE_SIZE")

    # --- database ---
    database_url: OptionalSecret = Field(default=None, validation_alias="DATABASE_URL")
    db_pool_size: int = Field(default=10, ge=1, validation_alias="DB_POOL_SIZE")
    db_max_overflow: int = Field(default=5, ge=0, validation_alias="DB_MAX_OVERFLOW")
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0, validation_alias="DB_POOL_TIMEOUT_SECONDS")
    db_connect_timeout_seconds: int = Field(default=5, ge=1, validation_alias="DB_CONNECT_TIMEOUT_SECONDS")
    # Neon suspends an idle compute after 5 minutes: recycle connections well before that.
    db_pool_recycle_seconds: int = Field(default=240, ge=1, validation_alias="DB_POOL_RECYCLE_SECONDS")
    db_pool_min_size: int = Field(default=1, ge=0, validation_alias="DB_POOL_MIN_SIZE")
    # Check a connection before use, but only one that sat idle this long: a busy pool never pays the round trip.
    db_pool_pre_ping: bool = Field(default=True, validation_alias="DB_POOL_PRE_PING")
    db_pool_ping_idle_seconds: float = Field(default=5.0, ge=0, validation_alias="DB_POOL_PING_IDLE_SECONDS")
    # psycopg's prepare_threshold: "auto" disables server-side prepared statements behind a "-pooler" host.
    db_prepare_threshold: Annotated[str, AfterValidator(_prepare_threshold)] = Field(
        default="auto", validation_alias="DB_PREPARE_THRESHOLD"
    )

    # --- HTTP ---
    env: Literal["development", "production", "test"] = Field(default="development", validation_alias="TODO_ENV")
    data_dir: Path = Field(default=Path(".todo-data"), validation_alias="TODO_DATA_DIR")
    docs_enabled: bool = Field(default=True, validation_alias="TODO_DOCS_ENABLED")
    cors_origins: CsvList = Field(default_factory=list, validation_alias="TODO_CORS_ORIGINS")
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, validation_alias="TODO_MAX_BODY_BYTES")
    retry_after_seconds: int = Field(default=2, ge=1, validation_alias="TODO_RETRY_AFTER_SECONDS")
    auth_realm: str = Field(default="todo-api", validation_alias="TODO_AUTH_REALM")
    log_level: str = Field(default="INFO", validation_alias="TODO_LOG_LEVEL")

    # --- retries and concurrent edits (specs/caching.md) ---
    # How long an Idempotency-Key replays its create; expired keys are purged by keyed creates and `todo-api purge`.
    idempotency_hours: float = Field(default=24.0, gt=0, le=24 * 30, validation_alias="TODO_IDEMPOTENCY_HOURS")
    # true: a change without If-Match gets 428 (no blind overwrites); false keeps unconditional changes working.
    require_if_match: bool = Field(default=False, validation_alias="TODO_REQUIRE_IF_MATCH")

    # --- observability (specs/observability.md) ---
    log_format: Annotated[Literal["text", "json"], BeforeValidator(_lower)] = Field(
        default="text", validation_alias="TODO_LOG_FORMAT"
    )
    access_log: bool = Field(default=True, validation_alias="TODO_ACCESS_LOG")
    # Access lines are written in batches at most this old (0: each as it comes); other records never wait.
    access_log_flush_seconds: float = Field(default=1.0, ge=0, le=60, validation_alias="TODO_ACCESS_LOG_FLUSH_SECONDS")
    # Unset: no metrics and no instrumentation at all. Set: /metrics on a listener of its own, loopback by default.
    metrics_port: Annotated[int | None, BeforeValidator(_blank_is_unset)] = Field(
        default=None, ge=1, le=65535, validation_alias="TODO_METRICS_PORT"
    )
    metrics_host: str = Field(default="127.0.0.1", min_length=1, validation_alias="TODO_METRICS_HOST")

    @model_validator(mode="after")
    def _one_auth_mode(self) -> Settings:
        if self.better_auth_url and self.better_auth_secret:
            raise ValueError("set either BETTER_AUTH_URL (JWKS mode) or BETTER_AUTH_SECRET (secret mode), not both")
        if self.jwt_jwks_url and not self.better_auth_url:
            # Also in secret mode, where it would be silently ignored: the operator meant JWKS verification.
            raise ValueError("JWT_JWKS_URL needs BETTER_AUTH_URL")
        if self.better_auth_secret is not None:
            if len(self.better_auth_secret.get_secret_value().encode()) < MIN_SECRET_BYTES:
                raise ValueError(f"BETTER_AUTH_SECRET must be at least {MIN_SECRET_BYTES} bytes")
            if self.better_auth_secret.get_secret_value() in PUBLIC_SECRETS:
                raise ValueError("BETTER_AUTH_SECRET is Better Auth's published fallback secret; generate a random one")
        elif self.better_auth_url:
            unsupported = set(self.jwt_algorithms) - ASYMMETRIC_ALGORITHMS
            if unsupported or not self.jwt_algorithms:
                raise ValueError(
                    "JWT_ALGORITHMS must list asymmetric algorithms only "
                    f"(got {', '.join(sorted(unsupported)) or 'none'})"
                )
            families = {alg[:2] for alg in self.jwt_algorithms}
            if len(families) > 1:
                raise ValueError("JWT_ALGORITHMS must stay within one algorithm family")
        if self.auth_mode is AuthMode.DEV and self.env == "production":
            raise ValueError("TODO_ENV=production requires BETTER_AUTH_URL or BETTER_AUTH_SECRET (dev mode refused)")
        return self

    @cached_property
    def auth_mode(self) -> AuthMode:
        if self.better_auth_secret is not None:
            return AuthMode.SECRET
        if self.better_auth_url:
            return AuthMode.JWKS
        return AuthMode.DEV

    @property
    def jwks_url(self) -> str:
        return self.jwt_jwks_url or f"{self.better_auth_url}/api/auth/jwks"

    @property
    def expected_issuer(self) -> str | None:
        if self.auth_mode is AuthMode.JWKS:
            return self.jwt_issuer or self.better_auth_url
        if self.auth_mode is AuthMode.DEV:
            return DEV_ISSUER
        return self.jwt_issuer

    @property
    def expected_audience(self) -> str | None:
        if self.auth_mode is AuthMode.JWKS:
            return self.jwt_audience or self.better_auth_url
        if self.auth_mode is AuthMode.DEV:
            return DEV_ISSUER
        return self.jwt_audience

    @property
    def dev_key_path(self) -> Path:
        return self.data_dir / "dev-signing-key.pem"

    def masked(self) -> dict[str, object]:
        """The effective configuration, secrets masked, for `todo-api check`."""
        from backend.db.urls import mask_url

        return {
            "auth_mode": self.auth_mode.value,
            "jwks_url": self.jwks_url if self.auth_mode is AuthMode.JWKS else None,
            "issuer": self.expected_issuer,
            "audience": self.expected_audience,
            "algorithms": ["HS256"] if self.auth_mode is AuthMode.SECRET else self.jwt_algorithms,
            "secret": "***" if self.better_auth_secret else None,
            "database_url": mask_url(self.database_url.get_secret_value()) if self.database_url else "embedded",
            "data_dir": str(self.data_dir),
            "env": self.env,
            "docs_enabled": self.docs_enabled,
            "cors_origins": self.cors_origins,
            "max_body_bytes": self.max_body_bytes,
            "idempotency_hours": self.idempotency_hours,
            "require_if_match": self.require_if_match,
            "log_format": self.log_format,
            "access_log": self.access_log,
            "access_log_flush_seconds": self.access_log_flush_seconds,
            "metrics": f"{self.metrics_host}:{self.metrics_port}" if self.metrics_port else None,
        }
