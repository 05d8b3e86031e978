"""Pages: the accessibility statement and the privacy notice with the imprint."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.settings import Settings

router = APIRouter(include_in_schema=False)


def _settings(request: Request) -> Settings:
    return request.app.state.container.settings  # type: ignore[no-any-return]


@router.get("/barrierefreiheit")
def accessibility_statement(request: Request) -> HTMLResponse:
    return request.app.state.pages.render(  # type: ignore[no-any-return]
        request, "info/accessibility.html", settings=_settings(request)
    )


@router.get("/datenschutz")
def privacy_notice(request: Request) -> HTMLResponse:
    return request.app.state.pages.render(  # type: ignore[no-any-return]
        request, "info/privacy.html", settings=_settings(request)
    )
