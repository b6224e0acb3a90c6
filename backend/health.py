"""Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database answers)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from backend.errors import ProblemError
from backend.openapi_docs import problem_responses

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: no database, no auth")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _ping(engine: Any) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


@router.get("/readyz", summary="Readiness: the database answers", responses=problem_responses(503))
async def readyz(request: Request) -> dict[str, str]:
    try:
        await run_in_threadpool(_ping, request.app.state.engine)
    except Exception:  # noqa: BLE001 - any failure to reach the database means "not ready"
        raise ProblemError(
            503,
            "database-unavailable",
            "The database is unreachable; retry shortly.",
            headers={"Retry-After": str(request.app.state.settings.retry_after_seconds)},
        ) from None
    return {"status": "ready"}
