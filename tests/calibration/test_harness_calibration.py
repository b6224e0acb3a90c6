"""The harness's power over HTTP: against another team's implementation (tools/variants/), a secure variant with
other contract choices gets no finding and a seeded defect exactly its own, and nothing the harness created is left
behind. Three variants, judged by two test files, as pytest tests of the calibration itself; `tox -e calibrate` runs
them, then every variant against the whole security suite (SPEC-CALIBRATION). Not in the default gate: the three
alone cost it a minute on 2 cores, and the gate stays under 5 minutes (specs/gate-timing.md)."""

from __future__ import annotations

import pytest

from harness.database import fresh_database
from tools.calibrate import VARIANTS, judge_variant

CLAIMS_TESTS = ("tests/security/test_token_claims.py", "tests/security/test_isolation_matrix.py")


@pytest.mark.timeout(180)
@pytest.mark.req("SPEC-CALIBRATION", "SPEC-DISCOVERY")
@pytest.mark.parametrize("name", ["other-contract-uuid-ids", "exp-not-required", "owner-case-insensitive"])
def test_a_variant_gets_exactly_the_findings_its_defect_deserves(tmp_path, name):
    with fresh_database("todo_calibration_smoke") as database_url:
        outcome = judge_variant(VARIANTS[name], database_url, tmp_path, tests=CLAIMS_TESTS)
    assert outcome.found == outcome.variant.expect
    assert outcome.left_behind == 0
    assert outcome.met
