"""Fixtures for the tests generated from specs/ (a pytest plugin, registered in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from harness.issuer import TokenIssuer
from harness.spec.conditions import Scene, minter
from harness.spec.taxonomy import build_scene, clean_up
from harness.users import UserFactory


@pytest.fixture
def taxonomy_scene(
    request: pytest.FixtureRequest, client: httpx.Client, make_user: UserFactory, issuer: TokenIssuer
) -> Iterator[Scene]:
    """An owner and an intruder, each with one task; their tasks are deleted afterwards (also on a target)."""
    scene = build_scene(client, make_user, minter(issuer, request.config.getoption("--jwt-secret")))
    yield scene
    clean_up(client, scene)
