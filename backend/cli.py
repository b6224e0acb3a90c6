"""`todo-api`: serve, migrate, token (dev mode), check, purge. Bad configuration is one clear line and exit 2."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from pydantic import ValidationError

from backend.settings import AuthMode, Settings

_LOOPBACK_NAMES = {"localhost"}


class ConfigError(Exception):
    pass


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{where}: {message}" if where else message) from None


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _database_url(settings: Settings) -> str:
    from backend.db.embedded import resolve_database_url
    from backend.db.urls import DatabaseUrlError, normalize_database_url

    try:
        if settings.database_url is not None:
            normalize_database_url(settings.database_url.get_secret_value())
        return resolve_database_url(settings)
    except DatabaseUrlError as exc:
        raise ConfigError(str(exc)) from None


@contextmanager
def _workers_metrics(settings: Settings) -> Iterator[None]:
    """With TODO_METRICS_PORT: every worker (also a single one) writes prometheus-client's multiprocess files to a
    fresh directory, and this process serves their sum on the metrics listener until the server stops."""
    if settings.metrics_port is None:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)  # a stray value would silence the app's own listener
        yield
        return
    directory = tempfile.mkdtemp(prefix="todo-api-metrics-")
    # Before anything imports prometheus_client in this process: with one worker the app runs here, and the
    # library picks its value class (in memory or multiprocess files) from this variable when first imported.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    from backend.metrics import serve_workers

    try:
        listener = serve_workers(settings.metrics_host, settings.metrics_port, directory)
    except OSError as exc:
        _forget(directory)
        where = f"{settings.metrics_host}:{settings.metrics_port}"
        raise ConfigError(f"TODO_METRICS_PORT: cannot listen on {where} ({exc.strerror or exc})") from None
    try:
        yield
    finally:
        listener.close()
        _forget(directory)


def _forget(directory: str) -> None:
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    shutil.rmtree(directory, ignore_errors=True)


def cmd_serve(args: argparse.Namespace) -> int:
    from backend.logs import configure_logging

    settings = load_settings()
    # This process starts the embedded PostgreSQL and the metrics listener before uvicorn configures its loggers:
    # what they log or warn is written in TODO_LOG_FORMAT too.
    configure_logging(settings.log_level, settings.log_format)
    if settings.auth_mode is AuthMode.DEV and not _is_loopback(args.host):
        raise ConfigError(
            f"dev mode only binds to loopback (got --host {args.host}); set BETTER_AUTH_URL or BETTER_AUTH_SECRET"
        )
    if settings.metrics_port is not None and settings.metrics_port == args.port:
        raise ConfigError("TODO_METRICS_PORT must differ from --port: metrics are never served on the API's port")
    with _workers_metrics(settings):
        _serve(args, settings)
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn

    from backend.logs import uvicorn_log_config

    url = _database_url(settings)
    if settings.database_url is not None and not args.no_migrate:
        from backend.db.migrate import upgrade

        upgrade(url)
    # Workers re-read settings from the environment: hand them the resolved database.
    os.environ["DATABASE_URL"] = url
    # uvicorn re-raises SIGTERM after its graceful shutdown; exiting normally instead runs the atexit hooks, which
    # stop the embedded PostgreSQL this process started.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    uvicorn.run(
        "backend.app:create_served_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
        proxy_headers=False,
        # Explicit, so a missing extra fails loudly instead of silently serving on the slower pure-Python stack.
        loop="uvloop",
        http="httptools",
        # backend.access already logs every request (with its request id); uvicorn's line would double the cost.
        access_log=False,
        # No `Server: uvicorn` banner: it tells a scanner what to try, and costs every response a header.
        server_header=False,
        # uvicorn's own records (start-up, malformed requests, worker crashes) in TODO_LOG_FORMAT too.
        log_config=uvicorn_log_config(settings.log_level, settings.log_format),
    )


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    sys.exit(128 + signum)


def cmd_migrate(_: argparse.Namespace) -> int:
    from backend.db.migrate import upgrade

    settings = load_settings()
    url = _database_url(settings)  # the embedded server is migrated as it starts
    if settings.database_url is not None:
        upgrade(url)
    print("database schema is at head")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from backend.auth.dev_keys import load_or_create_dev_key, mint_dev_token

    settings = load_settings()
    if settings.auth_mode is not AuthMode.DEV:
        raise ConfigError("`todo-api token` only works in dev mode (no BETTER_AUTH_URL / BETTER_AUTH_SECRET)")
    key = load_or_create_dev_key(settings.dev_key_path)
    print(mint_dev_token(key, args.user_id, args.ttl))
    return 0


def cmd_check(_: argparse.Namespace) -> int:
    from sqlalchemy import text

    from backend.auth.verifier import JwksVerifier, build_verifier
    from backend.db.engine import build_engine

    settings = load_settings()
    if settings.database_url is not None:
        _database_url(settings)  # a malformed DATABASE_URL is bad configuration (exit 2), not an outage
    report: dict[str, object] = {"config": settings.masked()}
    healthy = True
    try:
        engine = build_engine(settings, _database_url(settings))
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        report["database"] = "reachable"
    except Exception as exc:  # noqa: BLE001 - report, don't crash
        report["database"] = f"unreachable ({type(exc).__name__})"
        healthy = False
    verifier = build_verifier(settings)
    if isinstance(verifier, JwksVerifier):
        store = verifier.key_store
        asyncio.run(store.refresh())
        reachable = store.has_fetched
        report["jwks"] = f"reachable ({store.key_count} key(s))" if reachable else "unreachable"
        healthy = healthy and reachable
    print(json.dumps(report, indent=2))
    return 0 if healthy else 1


def cmd_purge(_: argparse.Namespace) -> int:
    """Deletes every Idempotency-Key older than TODO_IDEMPOTENCY_HOURS (keyed creates also purge a few each)."""
    from datetime import timedelta

    from backend.db.pool import build_pool
    from backend.tasks.repository import purge_expired_keys

    settings = load_settings()
    url = _database_url(settings)

    async def purge() -> int:
        async with build_pool(settings, url) as pool:
            return await purge_expired_keys(pool, timedelta(hours=settings.idempotency_hours))

    print(f"purged {asyncio.run(purge())} expired idempotency key(s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="todo-api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--no-migrate", action="store_true", help="do not apply migrations before serving")
    serve.set_defaults(handler=cmd_serve)

    commands.add_parser("migrate", help="apply database migrations").set_defaults(handler=cmd_migrate)

    token = commands.add_parser("token", help="print a dev-mode token for USER_ID")
    token.add_argument("user_id")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    token.set_defaults(handler=cmd_token)

    commands.add_parser("check", help="print effective configuration and reachability").set_defaults(handler=cmd_check)
    purge = commands.add_parser("purge", help="delete idempotency keys older than TODO_IDEMPOTENCY_HOURS")
    purge.set_defaults(handler=cmd_purge)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except ConfigError as exc:
        print(f"todo-api: configuration error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
