"""Token attacks as data: each case names the security requirement it attacks and builds its token from an
AttackContext, so the same table runs with minted tokens, Better Auth tokens or a tokens file.

A case that needs the target's signing key (a genuinely signed token with bad claims) uses `ctx.minter.mint` and so
"could not run" when the harness holds no such key; forgeries and tampering start from the victim's own genuine token
and always run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from harness.credentials import UserLease
from harness.judgements import REFUSAL_REQS
from harness.tokens import Minter
from harness.users import ApiUser


@dataclass(frozen=True)
class AttackContext:
    minter: Minter
    victim: ApiUser
    users: UserLease

    @property
    def sub(self) -> str:
        return self.victim.id

    @property
    def genuine(self) -> str:
        """A token the target itself trusts (minted, from Better Auth, or from the tokens file)."""
        return self.victim.token


TokenCase = Callable[[AttackContext], str]


def attack_params(requirement: str, cases: dict[str, TokenCase], *also: str) -> list[Any]:
    """pytest params (requirement, build) marked with the requirements the refusal is judged against."""
    marks = pytest.mark.req(requirement, *REFUSAL_REQS, *also)
    return [pytest.param(requirement, build, marks=marks, id=name) for name, build in cases.items()]
