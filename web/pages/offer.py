"""Pages: an offer from the waiting list (`/o/{token}`, the link of the offer mail) and a place
on the waiting list (`/w/{token}`, the link of the mail on joining).

Opening either link changes nothing (mail scanners open links before people do): accepting,
declining and leaving are POSTs with a CSRF token. An accepted offer leads on to the booking's
own page through its magic link.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from scheduler.errors import OfferUnavailable
from scheduler.waitlist import OfferInfo
from web.deps import Renderer, Services
from web.lanes import in_booking_lane
from web.pages.security import verified_form

router = APIRouter(include_in_schema=False)
Form = Annotated[FormData, Depends(verified_form)]


def _offer_page(
    request: Request,
    renderer: Renderer,
    services: Services,
    token: str,
    offer: OfferInfo,
    status_code: int = 200,
    problem: str | None = None,
) -> Response:
    return renderer.render(
        request,
        "offer.html",
        status_code=status_code,
        offer=offer,
        token=token,
        tz=services.scheduler.tz,
        problem=problem,
    )


@router.get("/o/{token}")
def offer_page(request: Request, token: str, renderer: Renderer, services: Services) -> Response:
    offer = services.waitlist.offer_for_token(token)
    return _offer_page(request, renderer, services, token, offer)


@router.post("/o/{token}/annehmen")
@in_booking_lane
def accept(
    request: Request, token: str, form: Form, renderer: Renderer, services: Services
) -> Response:
    try:
        booking = services.waitlist.accept(token)
    except OfferUnavailable:
        offer = services.waitlist.offer_for_token(token)
        return _offer_page(request, renderer, services, token, offer, 409, "unavailable")
    return RedirectResponse(services.links.urls(booking).manage, status_code=303)


@router.post("/o/{token}/ablehnen")
def decline(
    request: Request, token: str, form: Form, renderer: Renderer, services: Services
) -> Response:
    try:
        services.waitlist.decline(token)
    except OfferUnavailable:
        offer = services.waitlist.offer_for_token(token)
        return _offer_page(request, renderer, services, token, offer, 409, "unavailable")
    return RedirectResponse(f"/o/{token}", status_code=303)


@router.get("/w/{token}")
def entry_page(request: Request, token: str, renderer: Renderer, services: Services) -> Response:
    entry = services.waitlist.entry_for_token(token)
    return renderer.render(request, "offer_waitlist.html", entry=entry, token=token)


@router.post("/w/{token}/verlassen")
def leave(request: Request, token: str, form: Form, services: Services) -> Response:
    services.waitlist.leave(token)
    return RedirectResponse(f"/w/{token}", status_code=303)
