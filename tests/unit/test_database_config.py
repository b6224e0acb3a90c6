"""DATABASE_URL forms, psycopg's prepare_threshold behind a pooler, and the pool shaped for Neon."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import event
from sqlalchemy.engine import make_url

from backend.db.engine import build_engine, prepare_threshold
from backend.db.pool import build_pool
from backend.db.urls import DatabaseUrlError, is_pooler_host, mask_url, normalize_database_url
from backend.settings import Settings

NEON = "ep-cool-name-123456.eu-central-1.aws.neon.tech"
NEON_POOLER = "ep-cool-name-123456-pooler.eu-central-1.aws.neon.tech"


@pytest.mark.req("DB-URL-FORMS")
@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg"])
def test_every_accepted_scheme_becomes_psycopg_keeping_host_credentials_and_options(scheme):
    url = normalize_database_url(f"{scheme}://alice:p%40ss@{NEON}:5433/neondb?sslmode=require&channel_binding=require")
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.password, url.host, url.port, url.database) == ("alice", "p@ss", NEON, 5433, "neondb")
    assert dict(url.query) == {"sslmode": "require", "channel_binding": "require"}


@pytest.mark.req("DB-URL-FORMS")
def test_a_socket_directory_in_the_query_is_kept():
    url = normalize_database_url("postgresql://postgres@/db?host=/run/postgresql")
    assert url.query["host"] == "/run/postgresql"


@pytest.mark.req("DB-URL-FORMS", "OPS-BAD-CONFIG")
@pytest.mark.parametrize(
    "raw",
    ["mysql://u@h/db", "postgresql+asyncpg://u@h/db", "postgresql+psycopg2://u@h/db", "sqlite:///x.db", "u@h/db", ""],
)
def test_other_schemes_are_refused(raw):
    with pytest.raises(DatabaseUrlError, match="must start with"):
        normalize_database_url(raw)


@pytest.mark.req("DB-URL-FORMS", "OPS-CLI")
def test_masking_hides_the_password_only():
    assert mask_url(f"postgres://alice:s3cr3t@{NEON}/db?sslmode=require") == (
        f"postgresql+psycopg://alice:***@{NEON}/db?sslmode=require"
    )
    assert mask_url("mysql://alice:s3cr3t@h/db") == "<invalid>"


@pytest.mark.req("DB-POOLER")
@pytest.mark.parametrize(("host", "pooled"), [(NEON_POOLER, True), (NEON, False), ("localhost", False), (None, False)])
def test_the_neon_pooler_is_recognised_by_its_host_name(host, pooled):
    url = make_url("postgresql+psycopg://u@/db").set(host=host)
    assert is_pooler_host(url) is pooled


@pytest.mark.req("DB-POOLER")
@pytest.mark.parametrize(
    ("setting", "pooled", "expected"),
    [
        ("auto", True, None),
        ("auto", False, 5),
        ("none", False, None),
        ("none", True, None),
        ("0", True, 0),
        ("12", False, 12),
    ],
)
def test_prepare_threshold(setting, pooled, expected):
    assert prepare_threshold(setting, pooled) == expected


class ConnectAttemptError(Exception):
    """Raised instead of connecting: the test only wants the arguments."""


def _connect_args(settings: Settings, url: str) -> dict[str, Any]:
    engine = build_engine(settings, url)
    seen: dict[str, Any] = {}

    @event.listens_for(engine, "do_connect")
    def capture(dialect, record, cargs, cparams) -> None:
        seen.update(cparams)
        raise ConnectAttemptError

    with pytest.raises(ConnectAttemptError):
        engine.connect()
    engine.dispose()
    return seen


def _settings(**env: Any) -> Settings:
    return Settings(BETTER_AUTH_SECRET="x" * 40, **env)


@pytest.mark.req("DB-POOL")
def test_the_pool_checks_idle_connections_recycles_before_neon_suspends_and_bounds_its_waits():
    pool = build_pool(_settings(), f"postgresql://u@{NEON}/db")
    assert pool._check is not None
    assert 0 < pool.max_lifetime < 300  # Neon suspends an idle compute after 5 minutes
    assert 0 < pool.max_idle < 300
    assert pool.timeout == 5.0
    assert (pool.min_size, pool.max_size) == (1, 15)


@pytest.mark.req("DB-POOL")
def test_pool_settings_come_from_the_environment_names():
    pool = build_pool(
        _settings(
            DB_POOL_SIZE=3,
            DB_MAX_OVERFLOW=0,
            DB_POOL_MIN_SIZE=2,
            DB_POOL_TIMEOUT_SECONDS=1.5,
            DB_POOL_RECYCLE_SECONDS=60,
            DB_POOL_PRE_PING="false",
        ),
        f"postgresql://u@{NEON}/db",
    )
    assert (pool.min_size, pool.max_size, pool.timeout, pool.max_lifetime, pool.max_idle) == (2, 3, 1.5, 60, 60)
    assert pool._check is None


@pytest.mark.req("DB-POOL", "DB-URL-FORMS")
def test_the_request_pool_connects_with_the_engines_arguments_in_autocommit():
    url = f"postgres://alice:p%40ss@{NEON}:5433/neondb?sslmode=require"
    pool = build_pool(_settings(DB_CONNECT_TIMEOUT_SECONDS=4), url)
    assert conninfo_to_dict(pool.conninfo) == {
        "user": "alice",
        "password": "p@ss",
        "host": NEON,
        "port": "5433",
        "dbname": "neondb",
        "sslmode": "require",
    }
    assert pool.kwargs is not None
    assert pool.kwargs["autocommit"] is True
    assert pool.kwargs["connect_timeout"] == 4
    assert pool.kwargs["keepalives"] == 1
    assert pool.kwargs["prepare_threshold"] == 5
    assert build_pool(_settings(), f"postgres://u@{NEON_POOLER}/db").kwargs["prepare_threshold"] is None  # type: ignore[index]


@pytest.mark.req("DB-POOL", "DB-URL-FORMS")
def test_connections_have_a_connect_timeout_keepalives_and_keep_sslmode():
    args = _connect_args(_settings(DB_CONNECT_TIMEOUT_SECONDS=4), f"postgres://u@{NEON}/db?sslmode=require")
    assert args["connect_timeout"] == 4
    assert args["sslmode"] == "require"
    assert args["keepalives"] == 1
    assert args["keepalives_idle"] > 0
    assert args["prepare_threshold"] == 5


@pytest.mark.req("DB-POOLER")
def test_connections_through_the_pooler_disable_prepared_statements():
    assert _connect_args(_settings(), f"postgres://u@{NEON_POOLER}/db")["prepare_threshold"] is None
