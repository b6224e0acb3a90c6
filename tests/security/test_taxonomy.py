"""The status taxonomy for credentials and ownership: generated from the `security` rows of specs/taxonomy.yaml."""

from __future__ import annotations

import pytest

from harness.spec.taxonomy import params, run_case


@pytest.mark.parametrize("case", params("security"))
def test_credentials_get_the_status_the_taxonomy_names(case, client, taxonomy_scene, judge, routes):
    run_case(case, client, taxonomy_scene, judge, routes)
