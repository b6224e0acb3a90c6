"""Settings validation: one auth mode, strong secrets, asymmetric algorithms, blank values read as unset."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from backend.settings import AuthMode, Settings

URL = "https://auth.example.com"


def _refused(match: str, **env: str) -> None:
    with pytest.raises(ValidationError, match=match):
        Settings(**env)


@pytest.mark.req("AUTH-CONFIG", "AUTH-SECRET")
@pytest.mark.parametrize("secret", ["x" * 31, "é" * 15, " " * 40], ids=["31 ascii", "30 bytes in 15 chars", "blank"])
def test_a_secret_under_32_bytes_is_refused(secret):
    if secret.strip():
        _refused("at least 32 bytes", BETTER_AUTH_SECRET=secret)
    else:  # a blank value is no secret at all: dev mode, which is not secret mode
        assert Settings(BETTER_AUTH_SECRET=secret).auth_mode is AuthMode.DEV


@pytest.mark.req("AUTH-CONFIG", "AUTH-SECRET")
@pytest.mark.parametrize("secret", ["x" * 32, "é" * 16], ids=["32 ascii", "32 bytes in 16 chars"])
def test_a_secret_of_32_bytes_selects_secret_mode(secret):
    settings = Settings(BETTER_AUTH_SECRET=secret)
    assert settings.auth_mode is AuthMode.SECRET
    assert settings.masked()["algorithms"] == ["HS256"]


@pytest.mark.req("AUTH-CONFIG")
def test_both_modes_at_once_are_refused():
    _refused("not both", BETTER_AUTH_URL=URL, BETTER_AUTH_SECRET="x" * 40)


@pytest.mark.req("AUTH-CONFIG", "AUTH-ALG-ALLOWLIST")
@pytest.mark.parametrize("algorithms", ["HS256", "EdDSA,HS256", "none", "RS256,none", ",", "HS512"])
def test_jwt_algorithms_must_be_asymmetric(algorithms):
    _refused("asymmetric algorithms only", BETTER_AUTH_URL=URL, JWT_ALGORITHMS=algorithms)


@pytest.mark.req("AUTH-CONFIG", "AUTH-ALG-ALLOWLIST")
@pytest.mark.parametrize("algorithms", ["EdDSA,RS256", "PS256,RS256", "ES256,EdDSA"])
def test_jwt_algorithms_must_stay_within_one_family(algorithms):
    _refused("one algorithm family", BETTER_AUTH_URL=URL, JWT_ALGORITHMS=algorithms)


@pytest.mark.req("AUTH-CONFIG", "AUTH-JWKS")
def test_jwt_algorithms_is_a_comma_separated_list():
    assert Settings(BETTER_AUTH_URL=URL, JWT_ALGORITHMS=" ES256, ES384 ").jwt_algorithms == ["ES256", "ES384"]


@pytest.mark.req("AUTH-CONFIG", "AUTH-JWKS")
@pytest.mark.parametrize("other", [{}, {"BETTER_AUTH_SECRET": "x" * 40}], ids=["alone", "with a secret"])
def test_jwt_jwks_url_without_better_auth_url_is_refused(other):
    _refused("JWT_JWKS_URL needs BETTER_AUTH_URL", JWT_JWKS_URL="https://keys.example/jwks", **other)


@pytest.mark.req("AUTH-CONFIG")
@pytest.mark.parametrize("url", ["auth.example.com", "ftp://auth.example.com", "javascript:alert(1)"])
def test_better_auth_url_must_be_http_or_https(url):
    _refused("http", BETTER_AUTH_URL=url)


@pytest.mark.req("AUTH-JWKS", "AUTH-ISS-AUD")
def test_jwks_mode_derives_the_jwks_url_issuer_and_audience_from_better_auth_url():
    settings = Settings(BETTER_AUTH_URL=f"{URL}/")
    assert settings.auth_mode is AuthMode.JWKS
    assert settings.jwks_url == f"{URL}/api/auth/jwks"
    assert settings.expected_issuer == settings.expected_audience == URL
    assert settings.jwt_algorithms == ["EdDSA"]


@pytest.mark.req("AUTH-JWKS", "AUTH-ISS-AUD")
def test_jwks_url_issuer_and_audience_can_be_overridden():
    settings = Settings(
        BETTER_AUTH_URL=URL, JWT_JWKS_URL="https://keys.example/jwks", JWT_ISSUER="iss", JWT_AUDIENCE="aud"
    )
    assert (settings.jwks_url, settings.expected_issuer, settings.expected_audience) == (
        "https://keys.example/jwks",
        "iss",
        "aud",
    )


@pytest.mark.req("AUTH-CONFIG", "OPS-BAD-CONFIG")
def test_blank_environment_values_count_as_unset(clean_env):
    for name in ("BETTER_AUTH_URL", "JWT_JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE", "DATABASE_URL"):
        clean_env.setenv(name, "  ")
    clean_env.setenv("BETTER_AUTH_SECRET", "")
    settings = Settings()
    assert settings.auth_mode is AuthMode.DEV
    assert (settings.better_auth_url, settings.jwt_issuer, settings.jwt_audience) == (None, None, None)
    assert settings.database_url is None
    assert settings.masked()["database_url"] == "embedded"


@pytest.mark.req("AUTH-CONFIG")
def test_settings_are_read_from_the_environment(clean_env):
    clean_env.setenv("BETTER_AUTH_URL", URL)
    clean_env.setenv("TODO_CORS_ORIGINS", "https://a.example, https://b.example")
    clean_env.setenv("TODO_DOCS_ENABLED", "false")
    settings = Settings()
    assert settings.auth_mode is AuthMode.JWKS
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.docs_enabled is False


@pytest.mark.req("AUTH-DEV-MODE", "OPS-BAD-CONFIG")
def test_production_refuses_dev_mode_but_accepts_a_real_mode():
    _refused("TODO_ENV=production", TODO_ENV="production")
    assert Settings(TODO_ENV="production", BETTER_AUTH_URL=URL).auth_mode is AuthMode.JWKS


@pytest.mark.req("AUTH-LEEWAY", "OPS-BAD-CONFIG")
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JWT_LEEWAY_SECONDS", "31"),
        ("JWT_LEEWAY_SECONDS", "-1"),
        ("DB_PREPARE_THRESHOLD", "sometimes"),
        ("DB_POOL_SIZE", "0"),
        ("TODO_MAX_BODY_BYTES", "10"),
        ("TODO_ENV", "staging"),
    ],
)
def test_out_of_range_values_are_refused(name, value):
    with pytest.raises(ValidationError):
        Settings(**{name: value})


@pytest.mark.req("OPS-CLI")
def test_the_masked_configuration_hides_secrets_and_passwords():
    settings = Settings(
        BETTER_AUTH_SECRET="a-very-secret-value-of-many-bytes!", DATABASE_URL="postgres://u:pw-123@h/db"
    )
    masked = settings.masked()
    assert masked["secret"] == "***"
    assert "pw-123" not in str(masked)
    assert "a-very-secret" not in str(masked)
    assert masked["database_url"] == "postgresql+psycopg://u:***@h/db"
