"""Checks of our own for the refusal passes of `tox -e fuzz` (tools/fuzz.py), loaded by schemathesis through
SCHEMATHESIS_HOOKS: whatever a fuzzer sends to /api without credentials is a 401, and on another user's path a 403.

Schemathesis is installed only in the fuzz env: mypy sees it as untyped.
"""

from __future__ import annotations

from typing import Any

import schemathesis  # type: ignore[import-not-found]

# Answers that precede authentication, for anyone: a method the path does not serve is a 405 (routing comes first),
# a body over the limit a 413 (backend/middleware.py).
BEFORE_AUTHENTICATION = {405, 413}


def _expect(status: int, response: Any, case: Any) -> None:
    if response.status_code != status and response.status_code not in BEFORE_AUTHENTICATION:
        raise AssertionError(f"{case.method} {case.formatted_path} answered {response.status_code}, not {status}")


@schemathesis.check  # type: ignore[untyped-decorator]
def refused_without_credentials(ctx: Any, response: Any, case: Any) -> bool | None:
    _expect(401, response, case)
    return None


@schemathesis.check  # type: ignore[untyped-decorator]
def refused_on_a_foreign_path(ctx: Any, response: Any, case: Any) -> bool | None:
    _expect(403, response, case)
    return None
