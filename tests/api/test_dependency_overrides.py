"""`app.dependency_overrides`, FastAPI's way for a test to swap a dependency, reaches every route of the app that
installs it, on the bound path or not, and no other app made in the same process (backend/routing.py)."""

from __future__ import annotations

import pytest

from backend.auth.dependencies import require_path_owner
from backend.auth.principal import Principal
from backend.deps import get_pool
from backend.errors import database_unavailable
from harness.users import new_user_id


async def _signed_in_as_the_path_user(user_id: str) -> Principal:
    return Principal(user_id=user_id)


async def _no_database() -> None:
    raise database_unavailable(7)


@pytest.fixture
def overridden(client_for, settings):
    client = client_for(settings)
    client.app.dependency_overrides[require_path_owner] = _signed_in_as_the_path_user
    return client


@pytest.mark.req("OPS-DEPENDENCY-OVERRIDES")
@pytest.mark.parametrize("query", ["", "?limit=5"], ids=["bound path", "fastapi's handler"])
def test_an_override_of_the_current_user_reaches_the_task_routes(overridden, query):
    tasks = f"/api/{new_user_id('override')}/tasks"
    created = overridden.post(tasks, json={"title": "no token needed"})
    listed = overridden.get(f"{tasks}{query}")
    assert created.status_code == 201, created.text
    assert listed.status_code == 200, listed.text
    assert [task["title"] for task in listed.json()] == ["no token needed"]


@pytest.mark.req("OPS-DEPENDENCY-OVERRIDES")
def test_an_override_reaches_the_probes(client_for, settings):
    client = client_for(settings)
    client.app.dependency_overrides[get_pool] = _no_database
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"


@pytest.mark.req("OPS-DEPENDENCY-OVERRIDES")
def test_an_override_stays_with_the_app_that_installed_it(overridden, client_for, settings):
    assert overridden.get("/api/overridden-user/tasks").status_code == 200
    other = client_for(settings)
    assert other.get("/api/overridden-user/tasks").status_code == 401


@pytest.mark.req("OPS-DEPENDENCY-OVERRIDES")
def test_clearing_the_overrides_brings_the_real_dependencies_back(overridden):
    assert overridden.get("/api/overridden-user/tasks").status_code == 200
    overridden.app.dependency_overrides.clear()
    assert overridden.get("/api/overridden-user/tasks").status_code == 401
