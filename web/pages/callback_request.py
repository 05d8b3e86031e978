"""Page: a callback request as the citizen sees it (`/r/{token}`, the link of the confirmation
mail), with the button to withdraw it.

Opening the link changes nothing (mail scanners open links before people do): withdrawing is a
POST with a CSRF token. A request booked, settled or closed meanwhile can no longer be
withdrawn; the page says what became of it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from scheduler.errors import CallbackFinished
from web.deps import Renderer, Services
from web.pages.security import verified_form

router = APIRouter(include_in_schema=False)
Form = Annotated[FormData, Depends(verified_form)]


def _page(
    request: Request, token: str, renderer: Renderer, services: Services, status_code: int = 200
) -> Response:
    callback = services.callbacks.for_token(token)
    return renderer.render(
        request,
        "callback_request.html",
        status_code=status_code,
        callback=callback,
        token=token,
        tz=services.scheduler.tz,
        refused=status_code == 409,
    )


@router.get("/r/{token}")
def callback_page(request: Request, token: str, renderer: Renderer, services: Services) -> Response:
    return _page(request, token, renderer, services)


@router.post("/r/{token}/zuruecknehmen")
def withdraw(
    request: Request, token: str, form: Form, renderer: Renderer, services: Services
) -> Response:
    try:
        services.callbacks.withdraw(token)
    except CallbackFinished:
        return _page(request, token, renderer, services, status_code=409)
    return RedirectResponse(f"/r/{token}", status_code=303)
