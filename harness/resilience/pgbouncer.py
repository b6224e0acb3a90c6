"""Debian's PgBouncer in transaction mode in front of the test PostgreSQL: what Neon's `-pooler` endpoint is."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL

from harness import ROOT
from harness.net import free_port

INSTALLER = ROOT / "tools" / "apt_install.sh"
BUILDER = ROOT / "tools" / "build_pgbouncer.sh"
# Protocol-level prepared statements in transaction mode arrived in PgBouncer 1.21 (max_prepared_statements).
PREPARED_STATEMENTS_SINCE = (1, 21)


def executable(binary: str | None = None) -> str:
    """The pgbouncer to run: `binary`, else $PGBOUNCER_BIN, else Debian's (installed when missing).

    Either may be a path, or `build`: a PgBouncer >= 1.21 compiled from Debian trixie's source package against the
    system's libraries by build_pgbouncer.sh (cached; the first build takes under a minute).
    """
    choice = binary or os.environ.get("PGBOUNCER_BIN") or ""
    if choice == "build":
        out = subprocess.run(["bash", str(BUILDER)], check=True, timeout=900, stdout=subprocess.PIPE, text=True)
        found = out.stdout.strip().splitlines()[-1]
    elif choice:
        found = choice
    else:
        subprocess.run(["bash", str(INSTALLER), "pgbouncer", "/usr/sbin/pgbouncer"], check=True, timeout=600)
        found = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(found).exists():
        raise RuntimeError(f"pgbouncer is not installed ({found} is missing)")
    return found


def version(binary: str) -> tuple[int, int]:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"PgBouncer (\d+)\.(\d+)", out)
    assert match, out
    return int(match[1]), int(match[2])


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class PgBouncer:
    """One pgbouncer process on a free loopback port; any database name is forwarded to the same-named upstream one.

    `max_prepared_statements` > 0 lets clients use protocol-level prepared statements (needs PgBouncer >= 1.21);
    None leaves them unsupported, as PgBouncer < 1.21 and a pooler configured with 0 do (a 1.21+ binary is given 0:
    since 1.22 its default is 200). `binary`: see `executable`.
    """

    def __init__(
        self,
        upstream: URL,
        *,
        pool_size: int = 4,
        max_prepared_statements: int | None = None,
        binary: str | None = None,
    ) -> None:
        self.upstream = upstream
        self.pool_size = pool_size
        self.max_prepared_statements = max_prepared_statements
        self.port = free_port()
        self.binary = executable(binary)
        self.version = version(self.binary)
        self.user = upstream.username or "postgres"
        self._dir = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def supports_prepared_statements(self) -> bool:
        return self.version >= PREPARED_STATEMENTS_SINCE

    def url(self, database: str = "postgres", host: str = "127.0.0.1") -> URL:
        return URL.create(
            "postgresql+psycopg", username=self.user, password=self.upstream.password, host=host, port=self.port,
            database=database,
        )  # fmt: skip

    def _socket_dir(self) -> str | None:
        host = self.upstream.query.get("host")
        return host if isinstance(host, str) and host.startswith("/") else None

    def _run_as(self) -> str | None:
        """PgBouncer refuses to run as root: run it as the owner of the upstream's socket directory (it must reach
        the socket), else as the unprivileged `nobody`."""
        if os.geteuid() != 0:
            return None
        socket_dir = self._socket_dir()
        if socket_dir:
            import pwd

            return pwd.getpwuid(Path(socket_dir).stat().st_uid).pw_name
        return "nobody"

    def _config(self) -> str:
        socket_dir = self._socket_dir()
        target = f"host={socket_dir or self.upstream.host} port={self.upstream.port or 5432} user={self.user}"
        if self.upstream.password:
            target += f" password={_quote(self.upstream.password)}"
        lines = [
            "[databases]",
            f"* = {target}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {self._dir / 'users.txt'}",
            "pool_mode = transaction",
            # Few server connections for many clients: every transaction may land on a different backend.
            f"default_pool_size = {self.pool_size}",
            "max_client_conn = 500",
            f"logfile = {self._dir / 'pgbouncer.log'}",
            f"pidfile = {self._dir / 'pgbouncer.pid'}",
            f"admin_users = {self.user}",
            "ignore_startup_parameters = extra_float_digits",
        ]
        if self.max_prepared_statements is not None:
            if not self.supports_prepared_statements:
                raise RuntimeError(f"PgBouncer {self.version} has no max_prepared_statements (needs 1.21+)")
            lines.append(f"max_prepared_statements = {self.max_prepared_statements}")
        elif self.supports_prepared_statements:
            lines.append("max_prepared_statements = 0")
        return "\n".join(lines) + "\n"

    def start(self) -> PgBouncer:
        (self._dir / "users.txt").write_text(f'"{self.user}" ""\n')
        (self._dir / "pgbouncer.ini").write_text(self._config())
        user = self._run_as()
        if user:
            shutil.chown(self._dir, user)
            for path in self._dir.iterdir():
                shutil.chown(path, user)
        # -q: the log goes to the logfile only (see `log`), not interleaved with the test run's output.
        self._process = subprocess.Popen([self.binary, "-q", str(self._dir / "pgbouncer.ini")], user=user)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 15
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited with {self._process.returncode}:\n{self.log()}")
            try:
                conninfo = self.url().render_as_string(hide_password=False).replace("+psycopg", "")
                with psycopg.connect(conninfo, connect_timeout=2) as connection:
                    connection.execute("SELECT 1")
                return
            except psycopg.Error as exc:
                last = exc
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"pgbouncer did not become ready: {last}\n{self.log()}")

    def server_prepared_statements(self, database: str) -> int:
        """Prepared statements PgBouncer holds on its server connections to `database` (1.21+: SHOW SERVERS)."""
        conninfo = self.url("pgbouncer").render_as_string(hide_password=False).replace("+psycopg", "")
        # The admin console speaks only the simple query protocol, outside transactions.
        with psycopg.connect(conninfo, autocommit=True, cursor_factory=psycopg.ClientCursor) as connection:
            cursor = connection.execute("SHOW SERVERS")
            columns = [column.name for column in cursor.description or ()]
            rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        return sum(int(row["prepared_statements"]) for row in rows if row["database"] == database)

    def log(self) -> str:
        path = self._dir / "pgbouncer.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
