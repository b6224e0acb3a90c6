"""Prometheus metrics of an app in this process, read over HTTP from its own listener: each family moves when it
should, labels never carry a path, a user id or a token, and the listener is the only place /metrics is served."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import psutil
import pytest
from fastapi.testclient import TestClient

from backend import metrics
from backend.settings import Settings
from harness.inprocess import make_settings
from harness.issuer import TokenIssuer
from harness.net import free_port
from harness.users import new_user_id
from loadtests.server_metrics import Scrape, scrape, total

ITEM = "/api/{user_id}/tasks/{task_id}"
COLLECTION = "/api/{user_id}/tasks"


@dataclass
class Metered:
    client: TestClient
    url: str

    def read(self) -> Scrape:
        return scrape(self.url)

    def text(self) -> str:
        return httpx.get(self.url, timeout=5).text


MeteredFactory = Callable[..., Metered]


@pytest.fixture
def metered(client_for, worker_database_url: str, issuer: TokenIssuer) -> MeteredFactory:
    """An app with TODO_METRICS_PORT on a free port (JWKS mode on the session's issuer unless told otherwise)."""

    def factory(database_url: str = worker_database_url, **env: object) -> Metered:
        port = free_port()
        settings = make_settings(database_url, **{"BETTER_AUTH_URL": issuer.base_url, "TODO_METRICS_PORT": port, **env})
        return Metered(client_for(settings), f"http://127.0.0.1:{port}/metrics")

    return factory


def requests_of(scraped: Scrape, route: str, method: str, status: int) -> float:
    return total(scraped, "todo_http_requests_total", route=route, method=method, status=str(status))


@pytest.mark.req("OPS-METRICS", "OPS-METRICS-LABELS")
def test_requests_are_counted_by_route_template_method_and_status_with_their_latency(metered, alice):
    app = metered()
    task = app.client.post(alice.tasks_url(), json={"title": "t"}, headers=alice.headers).json()
    before = app.read()

    answers = [
        app.client.get(alice.tasks_url(task["id"]), headers=alice.headers),
        app.client.get(alice.tasks_url(task["id"]), headers=alice.headers),
        app.client.get(alice.tasks_url(999_999), headers=alice.headers),
        app.client.patch(alice.tasks_url(), headers=alice.headers),
        app.client.post(alice.tasks_url(), content=b"x" * 70_000, headers={"Content-Type": "application/json"}),
        app.client.request("BREW", alice.tasks_url(), headers=alice.headers),
        app.client.get(f"/api/{alice.id}/nope"),
    ]
    after = app.read()

    assert [a.status_code for a in answers] == [200, 200, 404, 405, 413, 405, 404]
    expected = {
        (ITEM, "GET", 200): 2,
        (ITEM, "GET", 404): 1,
        (COLLECTION, "PATCH", 405): 1,
        (COLLECTION, "POST", 413): 1,  # refused before routing, still named by its route
        (COLLECTION, "OTHER", 405): 1,  # methods come from a fixed set
        ("unmatched", "GET", 404): 1,
    }
    for (route, method, status), count in expected.items():
        assert requests_of(after, route, method, status) - requests_of(before, route, method, status) == count
    assert total(after, "todo_http_requests_total") - total(before, "todo_http_requests_total") == len(answers)
    latency = "todo_http_request_duration_seconds_count"
    assert total(after, latency, route=ITEM, method="GET") - total(before, latency, route=ITEM, method="GET") == 3
    assert total(after, "todo_http_request_duration_seconds_sum", route=ITEM) > 0
    assert total(after, "todo_http_request_duration_seconds_bucket", route=ITEM, method="GET", le="+Inf") >= 3


@pytest.mark.req("OPS-METRICS")
def test_the_token_cache_counts_a_miss_then_hits(metered, make_user):
    app = metered()
    user = make_user("cache")  # a token this app has never seen
    before = app.read()
    for _ in range(3):
        assert app.client.get(user.tasks_url(), headers=user.headers).status_code == 200
    after = app.read()
    assert total(after, "todo_token_cache_misses_total") - total(before, "todo_token_cache_misses_total") == 1
    assert total(after, "todo_token_cache_hits_total") - total(before, "todo_token_cache_hits_total") == 2


@pytest.fixture
def private_issuer() -> Iterator[TokenIssuer]:
    issuer = TokenIssuer().start()
    yield issuer
    issuer.stop()


@pytest.mark.req("OPS-METRICS")
def test_jwks_fetches_and_failures_are_counted(metered, private_issuer):
    app = metered(BETTER_AUTH_URL=private_issuer.base_url, JWKS_REFETCH_COOLDOWN_SECONDS=0)
    user_id = new_user_id("jwks")
    assert total(app.read(), "todo_jwks_fetches_total") == 0

    token = private_issuer.mint(user_id)
    assert app.client.get(f"/api/{user_id}/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    fetched = app.read()
    assert (total(fetched, "todo_jwks_fetches_total"), total(fetched, "todo_jwks_fetch_failures_total")) == (1, 0)

    private_issuer.available = False
    private_issuer.rotate()  # an unknown kid makes the server refetch, and the JWKS endpoint is down
    refused = private_issuer.mint(user_id)
    assert app.client.get(f"/api/{user_id}/tasks", headers={"Authorization": f"Bearer {refused}"}).status_code == 401
    failed = app.read()
    assert (total(failed, "todo_jwks_fetches_total"), total(failed, "todo_jwks_fetch_failures_total")) == (2, 1)


@pytest.mark.req("OPS-METRICS")
def test_503s_are_counted_while_the_database_is_down(metered, alice):
    app = metered("postgresql://u@127.0.0.1:1/x", DB_CONNECT_TIMEOUT_SECONDS=1)
    assert total(app.read(), "todo_database_unavailable_total") == 0

    assert app.client.post(alice.tasks_url(), json={"title": "t"}, headers=alice.headers).status_code == 503
    assert app.client.get("/readyz").status_code == 503
    assert app.client.get("/healthz").status_code == 200

    scraped = app.read()
    assert total(scraped, "todo_database_unavailable_total") == 2
    assert requests_of(scraped, COLLECTION, "POST", 503) == 1
    assert requests_of(scraped, "/readyz", "GET", 503) == 1


def _until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.req("OPS-METRICS")
def test_the_pool_is_sampled_size_in_use_waiting_and_checkouts(metered, alice):
    app = metered(DB_POOL_SIZE=3, DB_MAX_OVERFLOW=2)
    assert _until(lambda: total(app.read(), "todo_db_pool_connections") >= 1), "the sampler never ran"
    before = app.read()
    for _ in range(4):
        assert app.client.get(alice.tasks_url(), headers=alice.headers).status_code == 200
    assert _until(
        lambda: total(app.read(), "todo_db_pool_checkouts_total") >= total(before, "todo_db_pool_checkouts_total") + 4
    )
    # A sample may have caught the last request in flight; the next one cannot: nothing runs between requests.
    assert _until(lambda: total(app.read(), "todo_db_pool_connections_in_use") == 0)
    scraped = app.read()
    assert total(scraped, "todo_db_pool_max_connections") == 5
    assert 1 <= total(scraped, "todo_db_pool_connections") <= 5
    assert total(scraped, "todo_db_pool_requests_waiting") == 0


@pytest.mark.req("OPS-METRICS-LABELS")
def test_after_traffic_from_several_users_no_user_id_token_or_path_appears_in_metrics(metered, make_user):
    app = metered()
    users = [make_user(f"labels{n}") for n in range(3)]
    for user in users:
        task = app.client.post(user.tasks_url(), json={"title": f"title of {user.id}"}, headers=user.headers).json()
        app.client.get(user.tasks_url(task["id"]), headers=user.headers)
        app.client.get(users[0].tasks_url(), headers=user.headers)  # 403 for all but the first
        app.client.get(f"{user.tasks_url()}/{task['id']}/{user.id}")  # unknown path carrying the id
        app.client.get(user.tasks_url(), headers={"Authorization": f"Bearer {user.token}broken"})
    series_before = len(app.read())
    for n in range(20):
        app.client.get(f"/probe/{new_user_id('probe')}/{n}")  # unknown paths add no series
    scraped, text = app.read(), app.text()

    assert len(scraped) == series_before
    for user in users:
        assert user.id not in text
        assert user.token not in text
        assert user.token[:40] not in text
    assert "/probe/" not in text
    assert "title of" not in text
    labels = {(name, pairs) for name, pairs in scraped}
    assert {dict(pairs).get("route") for _, pairs in labels} <= {None, COLLECTION, ITEM, "unmatched"}


@pytest.mark.req("OPS-METRICS-EXPOSURE")
def test_metrics_are_served_on_their_own_loopback_listener_and_never_on_the_api_port(metered):
    app = metered()
    port = int(app.url.split(":")[2].split("/")[0])
    listening = [c for c in psutil.Process().net_connections("tcp") if c.status == "LISTEN" and c.laddr.port == port]

    assert [c.laddr.ip for c in listening] == ["127.0.0.1"]
    assert app.client.get("/metrics").status_code == 404  # the API has no such route
    assert httpx.get(app.url.replace("/metrics", "/"), timeout=5).status_code == 404
    response = httpx.get(app.url, timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")


@pytest.mark.req("OPS-METRICS-EXPOSURE")
def test_without_a_metrics_port_nothing_is_recorded_and_nothing_listens(client_for, settings: Settings):
    assert settings.metrics_port is None
    before = {c.laddr.port for c in psutil.Process().net_connections("tcp") if c.status == "LISTEN"}
    client = client_for(settings)
    assert client.get("/healthz").status_code == 200
    after = {c.laddr.port for c in psutil.Process().net_connections("tcp") if c.status == "LISTEN"}

    assert client.app.state.metrics is metrics.NOOP  # type: ignore[attr-defined]
    assert after <= before, "an app without TODO_METRICS_PORT opened a listener"
