"""Wall-clock timing of the default tox gate, env by env (a benchmark, deliberately not a timed test)."""

from __future__ import annotations

import configparser
import os
import platform
import subprocess
import time
from datetime import UTC, datetime

from harness import ROOT, SPECS

TARGET_TESTS_SECONDS = 90  # unit + api + security
TARGET_GATE_SECONDS = 300  # the whole default `tox`
TEST_ENVS = ("unit", "api", "security")


def default_envs() -> list[str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "tox.ini")
    return [env.strip() for env in parser["tox"]["env_list"].split(",") if env.strip()]


def _time(env: str) -> tuple[float, int]:
    started = time.monotonic()
    done = subprocess.run(["tox", "-e", env], cwd=ROOT, check=False)
    return time.monotonic() - started, done.returncode


def main(envs: list[str], *, write: bool = False) -> int:
    envs = envs or default_envs()
    _time(envs[0])  # warm-up: creates or updates the shared tox env, which a fresh clone pays once
    results = [(env, *_time(env)) for env in envs]
    tests = sum(seconds for env, seconds, _ in results if env in TEST_ENVS)
    total = sum(seconds for _, seconds, _ in results)
    lines = [
        "# Gate timing",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} by `python -m tools.spec timing` on {platform.node()} "
        f"({os.cpu_count()} CPUs), tox env already created.",
        "",
        "| tox env | seconds | exit |",
        "|---|---:|---:|",
        *[f"| {env} | {seconds:.1f} | {code} |" for env, seconds, code in results],
        f"| **unit + api + security** | **{tests:.1f}** (target < {TARGET_TESTS_SECONDS}) | |",
        f"| **whole gate** | **{total:.1f}** (target < {TARGET_GATE_SECONDS}) | |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if write:
        (SPECS / "gate-timing.md").write_text(text, encoding="utf-8")
    within = tests < TARGET_TESTS_SECONDS and total < TARGET_GATE_SECONDS
    return 0 if within and all(code == 0 for _, _, code in results) else 1
