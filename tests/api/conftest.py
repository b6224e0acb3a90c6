"""Fixtures for the API tests: extra apps with their own settings, a real HTTP server, the access log."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from backend.app import create_app
from backend.settings import Settings
from harness.net import LiveServer

AppClientFactory = Callable[[Settings], TestClient]


@pytest.fixture
def client_for() -> Iterator[AppClientFactory]:
    """Builds an app from `settings` and returns a started TestClient; all are closed (pools closed) after."""
    opened: list[TestClient] = []

    def factory(settings: Settings) -> TestClient:
        client = TestClient(create_app(settings))
        client.__enter__()
        opened.append(client)
        return client

    yield factory
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture(scope="session")
def live_url(request: pytest.FixtureRequest, target_url: str | None) -> Iterator[str]:
    """A base URL served by a real HTTP server (true concurrency): the target, or uvicorn on loopback.

    The server gets its own app instance: the session `app` is driven by the TestClient's event loop.
    """
    if target_url:
        yield target_url
        return
    app = create_app(request.getfixturevalue("settings"))
    with LiveServer(app) as server:
        yield server.url


@pytest.fixture
def access_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog, capturing the access log during the test (the test apps log at WARNING; this lifts it to INFO)."""
    logger = logging.getLogger("backend.access")
    # Attached directly: the "backend" logger may not propagate to the root logger where caplog listens.
    logger.addHandler(caplog.handler)
    with caplog.at_level(logging.INFO, logger="backend.access"):
        yield caplog
    logger.removeHandler(caplog.handler)
