"""Prometheus metrics (specs/observability.md): what the service counts, and the listener that serves `/metrics`.

Off unless TODO_METRICS_PORT is set: the app then holds the base `Recorder`, whose methods do nothing. When on,
`/metrics` is served on a listener of its own (127.0.0.1 by default), never on the API's port. Under
`todo-api serve` every worker writes its figures to prometheus-client's multiprocess files
(PROMETHEUS_MULTIPROC_DIR, set by `serve`) and the supervisor's listener adds them up; an app run any other way
serves its own registry from its lifespan.

Labels carry route templates (`/api/{user_id}/tasks`, or `unmatched`), methods from a fixed set and status codes:
never a raw path, a user id or token text, so the number of series is bounded whatever callers send.
"""

from __future__ import annotations

import asyncio
import glob
import ipaddress
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, suppress
from socketserver import ThreadingMixIn
from typing import Any, Protocol
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIEnvironment

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, make_wsgi_app
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from starlette.routing import Match
from starlette.types import Scope

log = logging.getLogger("backend.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"
# Seconds; the edges sit on specs/slo.yaml's budgets (100/150/250/300 ms, 0.5/0.75/1.5/2 s) so a p95/p99 read from
# the histogram is exact where it matters.
LATENCY_BUCKETS = (
    *(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2),
    *(0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0, 10.0),
)
POOL_SAMPLE_SECONDS = 1.0

# No `_created` series: one more sample per label set that nobody reads.
disable_created_metrics()  # type: ignore[no-untyped-call]


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class StatsSource(Protocol):
    def get_stats(self) -> dict[str, int]: ...


class Recorder:
    """What the service counts. This base records nothing: the app holds it when TODO_METRICS_PORT is unset."""

    enabled = False
    registry: CollectorRegistry | None = None

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        pass

    def token_cache_hit(self) -> None:
        pass

    def token_cache_miss(self) -> None:
        pass

    def jwks_fetch(self, ok: bool) -> None:
        pass

    def database_unavailable(self) -> None:
        pass

    def pool_stats(self, stats: Mapping[str, int]) -> None:
        pass


NOOP = Recorder()


class PrometheusRecorder(Recorder):
    """The families of specs/observability.md in a registry of this app's own (tests build many apps per process)."""

    enabled = True

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self._requests = Counter(
            "todo_http_requests",
            "Requests answered, by route template, method and status.",
            ("route", "method", "status"),
            registry=registry,
        )
        self._latency = Histogram(
            "todo_http_request_duration_seconds",
            "Time from the request's arrival in the app to the end of its answer, by route template and method.",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        # Label children per (route, method, status), bound on first use: the request path does one dict lookup,
        # no label formatting and no `labels()` lock.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._cache_hits = Counter(
            "todo_token_cache_hits", "Tokens found in the verified-token cache.", registry=registry
        )
        self._cache_misses = Counter(
            "todo_token_cache_misses", "Tokens verified because the cache did not hold them.", registry=registry
        )
        self._jwks_fetches = Counter("todo_jwks_fetches", "JWKS fetches attempted.", registry=registry)
        self._jwks_failures = Counter(
            "todo_jwks_fetch_failures", "JWKS fetches that failed (cached keys stayed in service).", registry=registry
        )
        self._unavailable = Counter(
            "todo_database_unavailable", "503 answers because the database could not be reached.", registry=registry
        )
        # Sampled from psycopg_pool's get_stats() every POOL_SAMPLE_SECONDS; summed over live workers.
        self._pool_gauges = {
            key: Gauge(name, text, registry=registry, multiprocess_mode="livesum")
            for key, name, text in (
                ("pool_size", "todo_db_pool_connections", "Connections the pool holds open."),
                ("pool_max", "todo_db_pool_max_connections", "The pool's maximum size (DB_POOL_SIZE + overflow)."),
                ("in_use", "todo_db_pool_connections_in_use", "Connections lent to requests."),
                ("requests_waiting", "todo_db_pool_requests_waiting", "Requests waiting for a connection."),
            )
        }
        # psycopg_pool's own counters, carried over as deltas: exact however coarse the sampling.
        self._pool_counters = {
            key: (Counter(name, text, registry=registry), scale)
            for key, name, text, scale in (
                ("requests_num", "todo_db_pool_checkouts", "Connections asked of the pool.", 1.0),
                ("requests_queued", "todo_db_pool_checkouts_queued", "Checkouts that had to wait.", 1.0),
                ("requests_wait_ms", "todo_db_pool_wait_seconds", "Time checkouts spent waiting.", 0.001),
                ("requests_errors", "todo_db_pool_checkout_errors", "Checkouts that failed (timeouts).", 1.0),
            )
        }
        self._last_counts: dict[str, int] = {}

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        if method not in METHODS:
            method = OTHER_METHOD
        children = self._children.get((route, method, status))
        if children is None:
            children = (self._requests.labels(route, method, str(status)), self._latency.labels(route, method))
            self._children[(route, method, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def token_cache_hit(self) -> None:
        self._cache_hits.inc()

    def token_cache_miss(self) -> None:
        self._cache_misses.inc()

    def jwks_fetch(self, ok: bool) -> None:
        self._jwks_fetches.inc()
        if not ok:
            self._jwks_failures.inc()

    def database_unavailable(self) -> None:
        self._unavailable.inc()

    def pool_stats(self, stats: Mapping[str, int]) -> None:
        figures = {**stats, "in_use": stats.get("pool_size", 0) - stats.get("pool_available", 0)}
        for key, gauge in self._pool_gauges.items():
            gauge.set(figures.get(key, 0))
        for key, (counter, scale) in self._pool_counters.items():
            count = stats.get(key, 0)
            last = self._last_counts.get(key, 0)
            # A smaller count is a new pool (the app's lifespan ran again): everything it counted is new.
            counter.inc((count - last if count >= last else count) * scale)
            self._last_counts[key] = count


def build_recorder(metrics_port: int | None) -> Recorder:
    return NOOP if metrics_port is None else PrometheusRecorder()


def route_template(scope: Scope) -> str:
    """The template of the route that answered (the router puts it in the scope), or of the route the path would
    have reached for an answer given before routing (a 413, a CORS preflight); `unmatched` when none fits."""
    route = scope.get("route")
    if route is None:  # the rare path: 404s and answers given by a middleware
        app = scope.get("app")
        route = next((r for r in _routes(getattr(app, "routes", ())) if r.matches(scope)[0] is not Match.NONE), None)
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def _routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Every route with a template, through FastAPI's included routers."""
    for route in routes:
        if isinstance(getattr(route, "path", None), str):
            yield route
        elif hasattr(route, "original_router"):
            yield from _routes(route.original_router.routes)


async def sample_pool(pool: StatsSource, recorder: Recorder, interval: float = POOL_SAMPLE_SECONDS) -> None:
    """Copies the pool's figures into the recorder until cancelled: nothing on the request path."""
    while True:
        recorder.pool_stats(pool.get_stats())
        await asyncio.sleep(interval)


class _BannerlessServerHandler(ServerHandler):
    server_software = ""  # wsgiref would send `Server: WSGIServer/0.2 CPython/3.x`: no version for a scanner


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per scrape would drown the service's own log

    def send_header(self, keyword: str, value: str) -> None:
        # http.server's own answers (400, 414) name the server too; the listener, like the API, names nothing.
        if keyword.lower() != "server":
            super().send_header(keyword, value)

    def handle(self) -> None:
        # WSGIRequestHandler.handle (CPython 3.11-3.13), with a ServerHandler that sends no Server header: wsgiref
        # offers no hook for its banner.
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():
            return
        handler = _BannerlessServerHandler(
            self.rfile,
            self.wfile,  # type: ignore[arg-type]  # typeshed: BufferedIOBase, where ServerHandler wants IO[bytes]
            self.get_stderr(),
            self.get_environ(),
            multithread=False,
        )
        handler.request_handler = self  # type: ignore[attr-defined]  # as wsgiref does: close() logs through it
        handler.run(self.server.get_app())  # type: ignore[attr-defined]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MetricsListener:
    """`GET /metrics` (anything else 404) on host:port, served by a daemon thread of this process."""

    def __init__(self, host: str, port: int, registry: Collector) -> None:
        exposition = make_wsgi_app(registry)

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            if environ.get("PATH_INFO") != "/metrics":
                start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
                return [b"Not Found: metrics are at /metrics\n"]
            body: Iterable[bytes] = exposition(environ, start_response)
            return body

        server_class: type[WSGIServer] = _ThreadingWSGIServer
        if ":" in host:  # an IPv6 literal
            server_class = type("_ThreadingWSGIServer6", (_ThreadingWSGIServer,), {"address_family": socket.AF_INET6})
        self._server = make_server(host, port, app, server_class, _QuietHandler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        self._thread.start()
        if not _is_loopback(host):
            log.warning("metrics are served on %s:%d: keep that address behind a network boundary", host, self.port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _LiveWorkersCollector(MultiProcessCollector):
    """MultiProcessCollector that first forgets the live gauges of workers that died (uvicorn replaces a crashed
    worker; its pool would otherwise count forever). Counters and histograms of dead workers stay: totals never
    fall."""

    def __init__(self, registry: CollectorRegistry, path: str) -> None:
        super().__init__(registry, path)  # type: ignore[no-untyped-call]
        self._directory = path

    def collect(self) -> Iterable[Any]:
        for path in glob.glob(os.path.join(self._directory, "gauge_live*_*.db")):
            pid = int(path.rsplit("_", 1)[1].removesuffix(".db"))
            if not _alive(pid):
                mark_process_dead(pid, self._directory)  # type: ignore[no-untyped-call]
        return super().collect()  # type: ignore[no-untyped-call, no-any-return]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's process took the pid: not ours to drop
        pass
    return True


def serve_workers(host: str, port: int, directory: str) -> MetricsListener:
    """The supervisor's listener: every worker's files in `directory`, added up at each scrape."""
    registry = CollectorRegistry()
    _LiveWorkersCollector(registry, directory)
    return MetricsListener(host, port, registry)


@asynccontextmanager
async def instrumented(recorder: Recorder, pool: StatsSource, host: str, port: int | None) -> AsyncIterator[None]:
    """For the app's lifespan: the pool sampler, and the listener unless a supervisor serves the workers' files."""
    if not recorder.enabled or recorder.registry is None or port is None:
        yield
        return
    listener = None if multiprocess_dir() else MetricsListener(host, port, recorder.registry)
    sampler = asyncio.create_task(sample_pool(pool, recorder))
    try:
        yield
    finally:
        sampler.cancel()
        with suppress(asyncio.CancelledError):
            await sampler
        if listener is not None:
            listener.close()
