"""Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database answers)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from backend.deps import PoolDep, SettingsDep
from backend.errors import database_unavailable
from backend.openapi_docs import problem_responses
from backend.routing import BoundRoute

# BoundRoute for `app.dependency_overrides` (backend/routing.py): neither probe has a bound path.
router = APIRouter(tags=["health"], route_class=BoundRoute)


def _example(body: dict[str, str]) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {"application/json": {"example": body}}}}


@router.get(
    "/healthz",
    operation_id="healthz",
    summary="Liveness: no database, no auth",
    description="200 while the process runs. It touches neither the database nor the token verifier.",
    responses=_example({"status": "ok"}),
)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="readyz",
    summary="Readiness: the database answers",
    description="200 when the database answers a query; 503 with `Retry-After` while it does not.",
    responses={**_example({"status": "ready"}), **problem_responses(503)},
)
async def readyz(request: Request, pool: PoolDep, settings: SettingsDep) -> dict[str, str]:
    try:
        async with pool.connection() as connection:
            await connection.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure to reach the database means "not ready"
        request.app.state.metrics.database_unavailable()
        raise database_unavailable(settings.retry_after_seconds) from None
    return {"status": "ready"}
