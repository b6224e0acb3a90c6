"""Concurrent traffic through PgBouncer in transaction mode, as through Neon's `-pooler` endpoint.

The API suite (tox -e neon-sim) runs through the pooler one request at a time, which hides prepared-statement
trouble: a lone client keeps landing on the same server connection. Here many clients share few server
connections, so every transaction may run on a different backend.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import URL

from backend.app import create_app
from backend.db.migrate import upgrade
from harness.database import database_url, janitor_for, server_url
from harness.inprocess import make_settings
from harness.net import LiveServer
from harness.resilience.faults import report
from harness.resilience.load import WriteLoad
from harness.resilience.pgbouncer import PgBouncer

CLIENTS = 6
REQUESTS_PER_CLIENT = 40
# A Neon-style pooled host name; libpq connects to hostaddr and never resolves the name.
NEON_POOLER_HOST = "ep-neon-sim-000000-pooler.invalid"


@pytest.fixture(scope="module")
def pooled_database() -> Iterator[tuple[PgBouncer, str]]:
    """A fresh migrated database on the test server (made directly: the pooler is for the app), and a pooler."""
    upstream = server_url()
    dbname = f"todo_pooler_{uuid.uuid4().hex[:8]}"
    janitor = janitor_for(upstream, dbname)
    janitor.init()
    upgrade(database_url(upstream, dbname))
    with PgBouncer(upstream, pool_size=2) as bouncer:
        yield bouncer, dbname
    janitor.drop()


@pytest.fixture
def preparing_pooler() -> Iterator[PgBouncer]:
    """A fresh pooler per test, in front of the same server, that carries prepared statements: PgBouncer >= 1.21 with
    max_prepared_statements, $PGBOUNCER_BIN or else built from Debian trixie's source (build_pgbouncer.sh, cached)."""
    binary = os.environ.get("PGBOUNCER_BIN") or "build"
    with PgBouncer(server_url(), pool_size=2, max_prepared_statements=100, binary=binary) as bouncer:
        yield bouncer


def pooled_url(bouncer: PgBouncer, dbname: str, host_name: str | None) -> str:
    url: URL = bouncer.url(dbname)
    if host_name:
        url = url.set(host=host_name).update_query_dict({"hostaddr": "127.0.0.1"})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def burst(make_user, issuer):
    """Runs CLIENTS users x REQUESTS_PER_CLIENT creates against a fresh app on `url`; returns the finished load."""

    def run(url: str, threshold: str) -> WriteLoad:
        settings = make_settings(
            url, BETTER_AUTH_URL=issuer.base_url, DB_PREPARE_THRESHOLD=threshold, DB_POOL_SIZE=CLIENTS
        )
        app = create_app(settings)
        users = [make_user(f"pooled{n}") for n in range(CLIENTS)]
        with LiveServer(app) as server, WriteLoad(server.url, users, max_requests=REQUESTS_PER_CLIENT, pause=0) as load:
            load.join()
        return load

    return run


@pytest.mark.req("DB-POOLER")
@pytest.mark.parametrize(
    ("threshold", "host_name"),
    [("none", None), ("auto", NEON_POOLER_HOST)],
    ids=["DB_PREPARE_THRESHOLD=none", "auto on a -pooler host name"],
)
def test_concurrent_requests_through_a_transaction_pooler_all_succeed(pooled_database, burst, threshold, host_name):
    bouncer, dbname = pooled_database
    load = burst(pooled_url(bouncer, dbname, host_name), threshold)

    report(f"{CLIENTS} clients via PgBouncer, DB_PREPARE_THRESHOLD={threshold}", answers=dict(load.outcomes.statuses))
    assert dict(load.outcomes.statuses) == {"201": CLIENTS * REQUESTS_PER_CLIENT}


@pytest.mark.req("DB-POOLER")
@pytest.mark.parametrize(
    "threshold", ["0", "auto"], ids=["prepare every statement", "auto on a plain host name (psycopg's default 5)"]
)
def test_the_pooler_really_does_not_carry_prepared_statements(pooled_database, burst, threshold):
    """The control: server-side prepared statements break through this pooler, so the passes above mean something,
    and `auto` only protects a host whose name says it is a pooler."""
    bouncer, dbname = pooled_database
    assert not bouncer.max_prepared_statements, "this control needs a pooler without prepared-statement support"
    load = burst(pooled_url(bouncer, dbname, None), threshold)

    report(f"control: DB_PREPARE_THRESHOLD={threshold} via the same pooler", answers=dict(load.outcomes.statuses))
    assert load.outcomes.bad, "every request succeeded although statements were prepared on pooled connections"


@pytest.mark.req("DB-POOLER")
@pytest.mark.parametrize(
    "threshold", ["auto", "0"], ids=["auto on a plain host name (psycopg's default 5)", "prepare every statement"]
)
def test_a_pooler_that_carries_prepared_statements_serves_prepared_traffic(
    pooled_database, preparing_pooler, burst, threshold
):
    """Issue 5: with a pooler that allows prepared statements (PgBouncer 1.21+, max_prepared_statements = 100) the
    statements psycopg prepares, the same ones the control above shows breaking on 1.18, all succeed."""
    _, dbname = pooled_database
    load = burst(pooled_url(preparing_pooler, dbname, None), threshold)
    prepared = preparing_pooler.server_prepared_statements(dbname)

    report(
        f"PgBouncer {'.'.join(map(str, preparing_pooler.version))}, max_prepared_statements=100, "
        f"DB_PREPARE_THRESHOLD={threshold}",
        answers=dict(load.outcomes.statuses),
        statements_prepared_on_server_connections=prepared,
    )
    assert dict(load.outcomes.statuses) == {"201": CLIENTS * REQUESTS_PER_CLIENT}
    assert prepared > 0, "nothing was prepared: this run did not exercise the pooler's prepared-statement support"
