"""Adding a router's routes to the application as they are.

`include_router` wraps a router, and FastAPI then builds every route's parameter models again
for each application that includes it, on that application's first request: most of the cost
of starting an application, paid a thousand times in a test run. Our routers carry everything
in their routes (prefix, tags and schema settings are given to `APIRouter` itself, never to an
inclusion), so their routes are added unchanged and their models are built once per process.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute


def add_routes(target: FastAPI | APIRouter, router: APIRouter) -> None:
    routes = target.router.routes if isinstance(target, FastAPI) else target.routes
    for route in router.routes:
        # Anything else (an included router) would need the inclusion's settings applied.
        if not isinstance(route, APIRoute | APIWebSocketRoute):
            raise TypeError(f"{route!r} of {router!r} cannot be added as it is")
        routes.append(route)
