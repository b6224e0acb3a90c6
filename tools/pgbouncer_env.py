"""Run a command with TEST_DATABASE_URL pointing at PgBouncer (transaction mode) in front of the test PostgreSQL.

    python -m tools.pgbouncer_env --prepare-threshold none -- pytest tests/api -n auto -q
    python -m tools.pgbouncer_env --pgbouncer build --max-prepared-statements 100 --prepare-threshold 0 \
        -- pytest tests/api -n auto -q

The upstream is TEST_DATABASE_URL's server when set, else the embedded one. The command's own databases (one per
xdist worker) are created through the pooler and reached through it, as the API reaches Neon's -pooler endpoint.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from harness.database import server_url
from harness.resilience.pgbouncer import PgBouncer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--prepare-threshold",
        default="none",
        help="DB_PREPARE_THRESHOLD for the API under test: none (never prepare), auto, or a number",
    )
    parser.add_argument(
        "--max-prepared-statements",
        type=int,
        default=None,
        help="let the pooler carry prepared statements (PgBouncer 1.21+); omitted: the pooler does not support them",
    )
    parser.add_argument(
        "--pgbouncer",
        default=None,
        help="the pgbouncer binary: a path, or `build` (PgBouncer 1.21+ from Debian trixie's source, cached); "
        "default $PGBOUNCER_BIN, else Debian's",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command after --")

    upstream = server_url()
    with PgBouncer(upstream, max_prepared_statements=args.max_prepared_statements, binary=args.pgbouncer) as bouncer:
        carried = "carried" if args.max_prepared_statements else "not supported"
        print(
            f"neon-sim: PgBouncer {'.'.join(map(str, bouncer.version))} (transaction mode, pool {bouncer.pool_size}) "
            f"({bouncer.binary}) on 127.0.0.1:{bouncer.port}; prepared statements {carried} by the pooler; "
            f"DB_PREPARE_THRESHOLD={args.prepare_threshold}",
            flush=True,
        )
        env = {
            **os.environ,
            "TEST_DATABASE_URL": bouncer.url().render_as_string(hide_password=False),
            "DB_PREPARE_THRESHOLD": args.prepare_threshold,
        }
        return subprocess.run(command, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
