"""Liveness and readiness for the load balancer and the orchestrator."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from web.database import database_ready
from web.deps import Services

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(services: Services) -> JSONResponse:
    if database_ready(services.engine):
        return JSONResponse({"status": "ok", "database": "ok"})
    return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
