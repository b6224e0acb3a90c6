"""DATABASE_URL normalisation: accept the spellings Neon, Heroku-style tools and SQLAlchemy use."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url

_ACCEPTED_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg"}


class DatabaseUrlError(ValueError):
    pass


def normalize_database_url(raw: str) -> URL:
    """Return a SQLAlchemy URL on the psycopg 3 driver, keeping every query option (sslmode, ...) as given."""
    scheme, sep, _rest = raw.partition("://")
    if not sep or scheme not in _ACCEPTED_SCHEMES:
        raise DatabaseUrlError("DATABASE_URL must start with postgres://, postgresql:// or postgresql+psycopg://")
    try:
        url = make_url(raw)
    except Exception as exc:
        raise DatabaseUrlError("DATABASE_URL is not a valid URL") from exc
    return url.set(drivername="postgresql+psycopg")


def mask_url(raw: str) -> str:
    try:
        return normalize_database_url(raw).render_as_string(hide_password=True)
    except DatabaseUrlError:
        return "<invalid>"


def is_pooler_host(url: URL) -> bool:
    """Neon's pooled endpoint (PgBouncer, transaction mode) has '-pooler' in its host name."""
    return "-pooler" in (url.host or "")
