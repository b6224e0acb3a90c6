"""specs/ as data: the requirement catalogue, the status taxonomy, the OpenAPI snapshot and the evidence list.

`python -m tests.support.spec --help` lists the commands that render and check them.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SPECS = ROOT / "specs"
REPORTS = ROOT / "reports"
