"""Names the plugin and the fixtures share: config stash keys, and the user properties a test report carries from
an xdist worker to the controller."""

from __future__ import annotations

import pytest

from harness.discovery import RouteShapes
from harness.verdicts import Judge

LAYERS_KEY = pytest.StashKey[frozenset[str]]()
ROUTES_KEY = pytest.StashKey[RouteShapes]()
JUDGE_KEY = pytest.StashKey[Judge]()
JUDGE_FAILED_KEY = pytest.StashKey[bool]()

REQ = "req"  # the requirement IDs a test names (harness/spec/traceability.py)
VERDICTS = "verdicts"  # requirement -> passed|failed, from the judge
CHECKS = "checks"  # the judged checks that failed, with their request and response
COULD_NOT_RUN = "could_not_run"  # why the test could not be set up on the target
JUDGE_ONLY = "judge_only"  # the test failed only because judged checks failed
CLEANUP = "cleanup"  # what the test's cleanup deleted and left
