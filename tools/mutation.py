"""`tox -e mutation`: run mutmut (configured in [tool.mutmut]) within a time budget, then print the score and
every surviving mutant with its diff, also written to reports/mutation.md."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

from harness import REPORTS, ROOT

STATS = ROOT / "mutants" / "mutmut-cicd-stats.json"
_RESULT_LINE = re.compile(r"^\s*(\S+): (survived|no tests|suspicious|not checked)\s*$")


def _mutmut(*args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mutmut", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def _database_env() -> dict[str, str]:
    """One PostgreSQL for every mutant. Without TEST_DATABASE_URL each forked child would join (or start) an embedded
    server of its own under mutants/ and, leaving by os._exit, never release it: children stalled into timeouts."""
    env = dict(os.environ)
    if not env.get("TEST_DATABASE_URL"):
        from backend.db.embedded import start_embedded_postgres

        server, url = start_embedded_postgres(ROOT / ".test-pg")
        _servers.append(server)  # held, so the server outlives the run
        env["TEST_DATABASE_URL"] = url
    return env


_servers: list[object] = []


def _run_bounded(max_children: int, budget_seconds: float) -> bool:
    """True when mutmut finished within the budget. Progress is kept in mutants/, so a rerun resumes.
    A mutmut that fails (a bad pragma, a failing clean run) is reported; with no checked mutant the run fails."""
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children)]
    with subprocess.Popen(command, cwd=ROOT, start_new_session=True, env=_database_env()) as process:
        try:
            returncode = process.wait(timeout=budget_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
            return False
    if returncode != 0:
        print(f"mutmut run exited with code {returncode}; see its output above", file=sys.stderr)
    return True


def main(max_children: int = 2, budget_seconds: float = 1800) -> int:
    started = time.monotonic()
    finished = _run_bounded(max_children, budget_seconds)
    elapsed = time.monotonic() - started
    _mutmut("export-cicd-stats")
    stats = json.loads(STATS.read_text()) if STATS.exists() else {}
    checked = ("killed", "timeout", "survived", "suspicious", "no_tests", "segfault")
    tested = sum(int(stats.get(key, 0)) for key in checked)  # not `total`: a stopped run leaves some unchecked
    caught = int(stats.get("killed", 0)) + int(stats.get("timeout", 0))
    score = 100 * caught / tested if tested else 0.0
    survivors = [m.groups() for line in _mutmut("results").stdout.splitlines() if (m := _RESULT_LINE.match(line))]
    decided = int(stats.get("killed", 0)) + int(stats.get("survived", 0))
    strict = 100 * int(stats.get("killed", 0)) / decided if decided else 0.0
    report = [
        "# Mutation testing (mutmut)",
        "",
        f"Score: **{score:.1f}%** ({caught} of {tested} checked mutants killed or timed out) in {elapsed:.0f} s"
        + ("" if finished else f"; stopped at the {budget_seconds:.0f} s budget, rerun to resume"),
        "",
        f"Without timeouts: {strict:.1f}% of the {decided} mutants that were killed or survived. A timeout is a hang "
        "under mutmut's harness; check a few by hand before counting them as kills.",
        "",
        f"Stats: {json.dumps(stats, sort_keys=True)}",
        "",
        "## Mutants not killed",
        "",
    ]
    unchecked = [name for name, status in survivors if status == "not checked"]
    if unchecked:
        report += [f"{len(unchecked)} mutants not checked (the budget ran out): rerun to resume.", ""]
    for name, status in survivors:
        if status != "not checked":
            diff = _mutmut("show", name).stdout.strip()
            report += [f"### `{name}`: {status}", "", "```diff", diff, "```", ""]
    text = "\n".join(report) + "\n"
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "mutation.md").write_text(text, encoding="utf-8")
    print(text)
    print(f"written to {(REPORTS / 'mutation.md').relative_to(ROOT)}")
    return 0 if finished and tested and score >= 90 else 1
