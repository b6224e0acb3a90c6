"""The spec suite's support package: what the tests, the load tests and the tools share.

Nothing here is a test or a fixture; conftest files hold the fixtures and import from here.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
REPORTS = ROOT / "reports"
