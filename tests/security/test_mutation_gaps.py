"""Behaviour that mutation testing found unpinned: the exact 403 a token gets for another user's path."""

from __future__ import annotations

import httpx
import pytest

from harness.users import ApiUser


@pytest.mark.req("ERR-403")
def test_another_users_path_gets_the_fixed_forbidden_detail(client: httpx.Client, alice: ApiUser, bob: ApiUser) -> None:
    response = client.get(bob.tasks_url(), headers=alice.headers)
    assert response.status_code == 403
    assert response.json()["detail"] == "This token may not act for this user."
