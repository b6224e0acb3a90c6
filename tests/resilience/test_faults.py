"""Faults while a bounded load runs: killed connections, a PostgreSQL stop/start (a Neon compute restart), and a
JWKS outage. The API must answer 503 with Retry-After or succeed, never 500 or hang, recover by itself, and the
database must hold exactly the writes it acknowledged (plus, at most, ones whose answer never arrived)."""

from __future__ import annotations

import time

import httpx
import pytest

from harness.issuer import TokenIssuer
from harness.net import LiveServer
from harness.resilience.faults import assert_no_write_lost_or_invented, cluster_app, report
from harness.resilience.load import CLIENT_TIMEOUT_SECONDS, WriteLoad

LOAD_USERS = 4
RECOVERY_BUDGET_SECONDS = 5.0
OUTAGE_SECONDS = 4.0


@pytest.fixture
def load_users(make_user):
    return [make_user(f"load{n}") for n in range(LOAD_USERS)]


def assert_contract_kept(load: WriteLoad) -> None:
    outcomes = load.outcomes
    assert not outcomes.bad, f"answers the contract forbids (500, 503 without Retry-After...): {outcomes.bad[:5]}"
    assert not outcomes.unknown, f"requests without an answer within {CLIENT_TIMEOUT_SECONDS}s: {outcomes.statuses}"
    assert outcomes.slowest_seconds < CLIENT_TIMEOUT_SECONDS


@pytest.mark.req("ERR-503", "DB-POOL")
def test_killed_connections_cost_at_most_a_503_and_lose_no_acknowledged_write(live, cluster, load_users):
    killed: list[int] = []
    with WriteLoad(live.url, load_users) as load:
        for _ in range(3):
            time.sleep(1.0)
            killed.append(cluster.terminate_other_backends())
        injected_at = time.monotonic()
        recovery = load.wait_for_success_after(injected_at, RECOVERY_BUDGET_SECONDS)
        time.sleep(0.5)

    report(
        "pg_terminate_backend on every connection, 3 times, 1 s apart",
        connections_killed=killed,
        answers=dict(load.outcomes.statuses),
        slowest_answer=f"{load.outcomes.slowest_seconds:.2f}s",
        first_201_after_last_kill=f"{recovery:.2f}s" if recovery is not None else "none",
    )
    assert sum(killed) > 0, "the fault was not injected: no connection was open"
    assert_contract_kept(load)
    assert recovery is not None, f"no successful write within {RECOVERY_BUDGET_SECONDS}s of the last kill"
    assert_no_write_lost_or_invented(cluster, [user.id for user in load_users], load.outcomes)


@pytest.mark.req("ERR-503", "DB-POOL", "OPS-READYZ")
def test_database_restart_answers_503_then_recovers_without_losing_writes(live, cluster, load_users):
    with (
        WriteLoad(live.url, load_users) as load,
        httpx.Client(base_url=live.url, timeout=CLIENT_TIMEOUT_SECONDS) as probe,
    ):
        time.sleep(1.0)
        cluster.stop("fast")
        stopped_at = time.monotonic()
        time.sleep(1.0)
        during = probe.get("/readyz")
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped_at)))
        refused_during_outage = len(load.outcomes.refused)
        cluster.start()
        restarted_at = time.monotonic()
        recovery = load.wait_for_success_after(restarted_at, RECOVERY_BUDGET_SECONDS)
        after = probe.get("/readyz")
        time.sleep(0.5)

    report(
        f"PostgreSQL stopped (pg_ctl -m fast) for {OUTAGE_SECONDS:.0f}s, then started",
        answers=dict(load.outcomes.statuses),
        slowest_answer=f"{load.outcomes.slowest_seconds:.2f}s",
        readyz_during_outage=f"{during.status_code} Retry-After={during.headers.get('retry-after')}",
        readyz_after=after.status_code,
        first_201_after_restart=f"{recovery:.2f}s" if recovery is not None else "none",
    )
    assert refused_during_outage > 0, "the outage was not observed by the load"
    assert_contract_kept(load)
    assert recovery is not None, f"no successful write within {RECOVERY_BUDGET_SECONDS}s of the database returning"
    assert (during.status_code, during.headers.get("retry-after", "").isdigit()) == (503, True)
    assert after.status_code == 200
    assert_no_write_lost_or_invented(cluster, [user.id for user in load_users], load.outcomes)


@pytest.mark.req("OPS-READYZ", "ERR-503")
def test_readyz_reports_an_outage_quickly_and_the_recovery(live, cluster):
    with httpx.Client(base_url=live.url, timeout=CLIENT_TIMEOUT_SECONDS) as probe:
        assert probe.get("/readyz").status_code == 200
        cluster.stop("immediate")
        try:
            started = time.monotonic()
            down = probe.get("/readyz")
            answered_in = time.monotonic() - started
        finally:
            cluster.start()
        up = probe.get("/readyz")

    assert down.status_code == 503
    assert down.headers["retry-after"].isdigit()
    assert down.headers["content-type"] == "application/problem+json"
    assert answered_in < 5, f"/readyz took {answered_in:.1f}s to report the outage"
    assert up.status_code == 200


@pytest.fixture
def jwks_down_app(cluster):
    """An app whose key cache goes stale at once, so every request during the outage tries the dead JWKS."""
    issuer = TokenIssuer().start()
    app = cluster_app(cluster, issuer, JWKS_CACHE_SECONDS=0.5, JWKS_REFETCH_COOLDOWN_SECONDS=0, TOKEN_CACHE_SIZE=0)
    with LiveServer(app) as server:
        yield server, issuer
    issuer.available = True
    issuer.stop()


@pytest.mark.req("AUTH-JWKS-OUTAGE")
def test_jwks_outage_leaves_already_known_keys_working(jwks_down_app):
    server, issuer = jwks_down_app
    user_id = "spec-jwks-outage-user"
    with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT_SECONDS) as client:

        def list_with(token: str) -> httpx.Response:
            return client.get(f"/api/{user_id}/tasks", headers={"Authorization": f"Bearer {token}"})

        assert list_with(issuer.mint(user_id)).status_code == 200  # the key is now known
        issuer.available = False
        time.sleep(0.6)  # past the key cache lifetime: the next request must try the JWKS again
        fetched_before = len(issuer.requests)
        answers = [list_with(issuer.mint(user_id)).status_code for _ in range(5)]
        unknown_kid = list_with(issuer.mint(user_id, key=issuer.rotate()))

    report("JWKS answers 503", answers_with_known_key=answers, unknown_key=unknown_kid.status_code)
    assert len(issuer.requests) > fetched_before, "the outage was not hit: no JWKS refetch was attempted"
    assert answers == [200] * 5
    assert unknown_kid.status_code == 401
