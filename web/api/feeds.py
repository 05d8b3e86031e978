"""Advisors' calendar subscriptions: a secret, revocable webcal address per advisor."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Response
from pydantic import BaseModel

from notifications.ics import advisor_feed
from scheduler.models import Channel
from scheduler.views import BookingInfo
from web.deps import Actor, Services

router = APIRouter(tags=["staff"])


class FeedOut(BaseModel):
    url: str
    webcal_url: str


def _feed_out(base_url: str, token: str) -> FeedOut:
    url = f"{base_url}/feeds/{token}.ics"
    return FeedOut(url=url, webcal_url="webcal://" + url.split("://", 1)[1])


@router.get("/api/v1/me/calendar-feed", response_model=FeedOut)
def my_feed(actor: Actor, services: Services) -> FeedOut:
    return _feed_out(services.settings.base_url, services.accounts.feed_token(actor.id))


@router.post("/api/v1/me/calendar-feed/reset", response_model=FeedOut)
def reset_my_feed(actor: Actor, services: Services) -> FeedOut:
    """A new address; calendars subscribed to the old one get nothing more."""
    token = services.accounts.feed_token(actor.id, reset=True)
    return _feed_out(services.settings.base_url, token)


@router.get("/feeds/{token}.ics", response_class=Response, include_in_schema=False)
def feed(token: str, services: Services) -> Response:
    owner = services.accounts.feed_owner(token)
    scheduler, base_url = services.scheduler, services.settings.base_url
    bookings = [(b, _staff_room_url(base_url, b)) for b in services.desk.upcoming(owner.id)]
    host = urlsplit(base_url).hostname or "Sprechstunde"
    content = advisor_feed(
        bookings,
        tz=scheduler.tz,
        base_url=base_url,
        name=f"{owner.name} · {host}",
        now=scheduler.clock(),
    )
    return Response(
        content,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )


def _staff_room_url(base_url: str, booking: BookingInfo) -> str | None:
    # A feed's address ends up in shared calendars: it links the staff side of the room, which
    # needs a staff login, never the citizen's join link, which would let anyone in its place.
    if booking.channel != Channel.VIDEO:
        return None
    return f"{base_url}/staff/termine/{booking.reference}/raum"
