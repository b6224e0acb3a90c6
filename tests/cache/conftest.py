"""The backend over real HTTP behind a real shared cache (nginx proxy_cache on loopback, harness/shared_cache.py),
and the control: the same app without its caching headers behind the same kind of cache.

Tasks are arranged through the session's in-process client: the origins share its database, so setup never goes
through (or warms) a cache.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from backend.app import create_app
from backend.settings import Settings
from harness.net import LiveServer
from harness.shared_cache import NginxCache, require_nginx, strip_cache_headers

TIMEOUT_SECONDS = 15


@pytest.fixture(scope="session")
def nginx() -> None:
    """Skips locally without nginx; fails under CI=true (tox -e cache installs it)."""
    require_nginx()


@pytest.fixture(scope="session")
def shared_cache(nginx: None, settings: Settings) -> Iterator[httpx.Client]:
    """A client of nginx caching the real app (its own instance: the session `app` runs on the TestClient's loop)."""
    with (
        LiveServer(create_app(settings)) as origin,
        NginxCache(origin.url) as cache,
        httpx.Client(base_url=cache.url, timeout=TIMEOUT_SECONDS) as through,
    ):
        yield through


@pytest.fixture(scope="session")
def control_cache(nginx: None, settings: Settings) -> Iterator[httpx.Client]:
    """A client of nginx caching the app with Cache-Control, Expires and Vary stripped: what the cache does then."""
    with (
        LiveServer(strip_cache_headers(create_app(settings))) as origin,
        NginxCache(origin.url) as cache,
        httpx.Client(base_url=cache.url, timeout=TIMEOUT_SECONDS) as through,
    ):
        yield through
