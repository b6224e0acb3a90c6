"""Calibration: the harness proves its own power over HTTP (SPEC-CALIBRATION).

    python -m tools.calibrate                 # every variant
    python -m tools.calibrate exp-not-required other-contract-jwks
    tox -e calibrate

Each variant of another team's implementation (tools/variants/) is served on loopback and judged by
`pytest tests/security --profile security --findings DIR`, as a reviewer would judge a deployment:
- secure variants with other contract choices (200 on create and delete, {"detail"} errors, an {id} parameter, no
  X-Request-ID, HS256 or JWKS, UUID ids, no OpenAPI document) must give zero findings;
- each vulnerable variant (one realistic defect) must give exactly its own finding, at its severity.
After every run no task of the harness's may be left in the variant's tables. Exit status 0 when every variant met
its expectation, 1 otherwise; the table printed at the end says which did not.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from backend.db.urls import normalize_database_url
from harness import ROOT
from harness.database import fresh_database, libpq_url
from harness.net import free_port, serving


@dataclass(frozen=True)
class Variant:
    name: str
    expect: tuple[tuple[str, str], ...] = ()  # (requirement, severity) of every finding the run must report
    auth: str = "secret"
    id_type: str = "int"
    docs: bool = True
    defects: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()  # how a reviewer describes a target that serves no OpenAPI document


SECURE = (
    Variant("other-contract-hs256"),
    Variant("other-contract-jwks", auth="jwks"),
    Variant("other-contract-uuid-ids", id_type="uuid"),
    Variant("other-contract-no-openapi", docs=False, flags=("--task-param", "id", "--create-status", "200")),
)
VULNERABLE = (
    Variant("owner-filter-missing", (("ISO-MATRIX", "critical"),), defects=("owner-filter-missing",)),
    Variant("owner-case-insensitive", (("ISO-MATRIX", "critical"),), defects=("owner-case-insensitive",)),
    Variant("forbidden-foreign-id", (("ISO-INDISTINGUISHABLE", "medium"),), defects=("forbidden-foreign-id",)),
    Variant("exp-not-required", (("AUTH-EXPIRY", "high"),), defects=("exp-not-required",)),
    Variant("iat-unchecked", (("AUTH-IAT", "medium"),), defects=("iat-unchecked",)),
    Variant("crit-ignored", (("AUTH-CRIT", "medium"),), auth="jwks", defects=("crit-ignored",)),
    Variant("identity-claim", (("AUTH-IDENTITY-CLAIM", "critical"),), defects=("identity-claim",)),
    Variant("alg-from-header", (("AUTH-ALG-ALLOWLIST", "critical"),), defects=("alg-from-header",)),
    Variant("nul-500", (("ERR-NO-5XX", "medium"),), defects=("nul-500",)),
    Variant("poisoned-row", (("ERR-NO-POISON", "high"),), defects=("poisoned-row",)),
    Variant("precondition-oracle", (("ISO-PRECONDITION-ORACLE", "medium"),), defects=("precondition-oracle",)),
)
VARIANTS = {variant.name: variant for variant in (*SECURE, *VULNERABLE)}
VARIANT_TABLES = ("variant_tasks", "variant_tasks_uuid")


@dataclass(frozen=True)
class Outcome:
    variant: Variant
    found: tuple[tuple[str, str], ...]
    left_behind: int
    pytest_code: int
    seconds: float

    @property
    def met(self) -> bool:
        return sorted(self.found) == sorted(self.variant.expect) and self.left_behind == 0 and self.pytest_code < 2


@contextmanager
def _served(variant: Variant, database_url: str, auth_args: list[str]) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "tools.variants", "--port", str(port), "--database-url", libpq_url(database_url)]
    command += ["--auth", variant.auth, "--id-type", variant.id_type, *auth_args]
    command += [*(["--no-docs"] if not variant.docs else []), *[f"--defect={d}" for d in variant.defects]]
    with serving(command, port, ready_path="/healthz") as url:
        yield url


def _left_behind(database_url: str) -> int:
    engine = create_engine(normalize_database_url(database_url))
    try:
        present = set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            tables = [table for table in VARIANT_TABLES if table in present]
            return sum(int(connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables)  # noqa: S608
    finally:
        engine.dispose()


def judge_variant(
    variant: Variant,
    database_url: str,
    reports: Path,
    pytest_args: Sequence[str] = (),
    tests: Sequence[str] = ("tests/security",),
) -> Outcome:
    """Serve `variant`, judge it with the security profile, and read back what the run found."""
    out = reports / variant.name
    shutil.rmtree(out, ignore_errors=True)
    if variant.auth == "jwks":
        # The pytest run's own issuer serves its JWKS on this port (one process: one key set).
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        auth_args = ["--jwks-url", f"{base}/api/auth/jwks", "--issuer", base, "--audience", base]
        harness_args = [f"--issuer-port={port}", "-n", "0"]
    else:
        secret = secrets.token_urlsafe(48)
        auth_args, harness_args = [f"--secret={secret}"], [f"--jwt-secret={secret}", "-n", "2"]
    started = time.monotonic()
    with _served(variant, database_url, auth_args) as url:
        command = [sys.executable, "-m", "pytest", *tests, f"--target-url={url}", "--profile=security"]
        command += [f"--findings={out}", "-q", "-p", "no:cacheprovider", *harness_args, *variant.flags]
        print(f"\n=== {variant.name}: {' '.join(command)}", flush=True)
        code = subprocess.call([*command, *pytest_args], cwd=ROOT)
    findings_path = out / "findings.json"
    findings = json.loads(findings_path.read_text()) if findings_path.exists() else []
    found = tuple((f["requirement"], f["severity"]) for f in findings)
    return Outcome(variant, found, _left_behind(database_url), code, time.monotonic() - started)


def _table(outcomes: list[Outcome]) -> str:
    lines = ["| variant | expected | found | left behind | seconds | verdict |", "|---|---|---|---|---:|---|"]
    for o in outcomes:
        expected = ", ".join(f"{r} ({s})" for r, s in o.variant.expect) or "nothing"
        found = ", ".join(f"{r} ({s})" for r, s in o.found) or "nothing"
        lines.append(
            f"| {o.variant.name} | {expected} | {found} | {o.left_behind} | {o.seconds:.0f} "
            f"| {'ok' if o.met else 'WRONG'} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.calibrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="*", metavar="VARIANT", help=f"default: all of {', '.join(VARIANTS)}")
    parser.add_argument("--reports", type=Path, default=ROOT / "reports" / "calibration", help="findings per variant")
    args, pytest_args = parser.parse_known_args(argv)
    unknown = sorted(set(args.variants) - VARIANTS.keys())
    if unknown:
        parser.error(f"unknown variants: {', '.join(unknown)}")
    chosen = [VARIANTS[name] for name in args.variants] or list(VARIANTS.values())
    os.environ.setdefault("PYTHONHASHSEED", "0")
    with fresh_database("todo_calibrate") as database_url:
        outcomes = [judge_variant(variant, database_url, args.reports, pytest_args) for variant in chosen]
    table = _table(outcomes)
    args.reports.mkdir(parents=True, exist_ok=True)
    (args.reports / "calibration.md").write_text(f"# Calibration\n\n{table}\n", encoding="utf-8")
    print(f"\n{table}\n\nwritten to {args.reports}/ (calibration.md, and each variant's findings)")
    return 0 if all(o.met for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
