"""Test databases: one per xdist worker, on the embedded PostgreSQL or on TEST_DATABASE_URL's server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pytest_postgresql.janitor import DatabaseJanitor
from sqlalchemy.engine import URL, make_url

from backend.db.urls import normalize_database_url
from harness import ROOT


def server_url() -> URL:
    """The server the tests use: TEST_DATABASE_URL when set, else the embedded one (started on demand)."""
    explicit = os.environ.get("TEST_DATABASE_URL")
    if explicit:
        return normalize_database_url(explicit)
    from backend.db.embedded import start_embedded_postgres

    data_dir = Path(os.environ.get("TEST_DATA_DIR", ROOT / ".test-pg"))
    server, url = start_embedded_postgres(data_dir)
    _servers.append(server)
    return make_url(url)


_servers: list[object] = []


def janitor_for(url: URL, dbname: str) -> DatabaseJanitor:
    host = url.host or url.query.get("host")
    assert isinstance(host, str), "the test server URL needs a host or a socket directory"
    return DatabaseJanitor(
        user=url.username or "postgres",
        host=host,
        port=url.port or 5432,
        dbname=dbname,
        password=url.password,
    )


def database_url(server: URL, dbname: str) -> str:
    return server.set(database=dbname).render_as_string(hide_password=False)


@contextmanager
def fresh_database(prefix: str = "todo_fresh") -> Iterator[str]:
    """An empty database of its own on the test server (no migrations applied), dropped afterwards."""
    server = server_url()
    dbname = f"{prefix}_{uuid.uuid4().hex[:12]}"
    janitor = janitor_for(server, dbname)
    janitor.init()
    try:
        yield database_url(server, dbname)
    finally:
        janitor.drop()


def libpq_url(url: str) -> str:
    """The same database as a plain libpq URL (psycopg's conninfo, node-postgres): `?host=/dir` for a unix socket."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
