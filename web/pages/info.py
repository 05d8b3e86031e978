"""Pages: the accessibility statement and the privacy notice with the imprint."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.deps import Renderer, Services

router = APIRouter(include_in_schema=False)


@router.get("/barrierefreiheit")
def accessibility_statement(
    request: Request, renderer: Renderer, services: Services
) -> HTMLResponse:
    return renderer.render(request, "info/accessibility.html", settings=services.settings)


@router.get("/datenschutz")
def privacy_notice(request: Request, renderer: Renderer, services: Services) -> HTMLResponse:
    return renderer.render(request, "info/privacy.html", settings=services.settings)
