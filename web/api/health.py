"""Liveness and readiness for the load balancer and the orchestrator; metrics for the
monitoring (web/metrics.py)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from web import metrics
from web.database import database_ready
from web.deps import Services, client_address
from web.errors import problem

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: Services) -> JSONResponse:
    # Not in the request threads: when a crowd keeps them all busy, the proxy must still
    # learn within its timeout that this instance is alive, or it takes it out of service.
    if await asyncio.to_thread(database_ready, services.engine):
        return JSONResponse({"status": "ok", "database": "ok"})
    return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
        403: {"description": "the client's address is not in SPRECHSTUNDE_METRICS_ALLOW"},
    },
)
def read_metrics(request: Request, services: Services) -> Response:
    allowed = metrics.Allowed(services.settings.metrics_allow)
    if client_address(request) not in allowed:
        return problem(request, 403, "metrics_not_allowed")
    stored = metrics.Stored(services.sessions, services.scheduler.clock)
    body, content_type = metrics.exposition(stored)
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})
