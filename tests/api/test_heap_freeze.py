"""What `todo-api serve` runs freezes the heap it has once started (gc.freeze: full collections no longer walk the
modules, the app and its validators); an app made any other way, as the tests make many, leaves the collector alone
(OPS-SERVED-HEAP, specs/performance.md)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from backend.app import create_app
from harness.inprocess import make_settings

pytestmark = pytest.mark.req("OPS-SERVED-HEAP")


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # what a test froze goes back to the collector: this process serves nothing


def test_the_served_app_freezes_its_heap_when_it_starts(unfrozen, worker_database_url, issuer):
    app = create_app(make_settings(worker_database_url, BETTER_AUTH_URL=issuer.base_url), freeze_heap=True)
    assert gc.get_freeze_count() == 0

    with TestClient(app) as client:
        assert gc.get_freeze_count() > 0
        assert client.get("/healthz").status_code == 200


def test_an_app_made_any_other_way_leaves_the_collector_alone(unfrozen, worker_database_url, issuer):
    app = create_app(make_settings(worker_database_url, BETTER_AUTH_URL=issuer.base_url))

    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() == 0
