"""Who may start a connection test (issue 12): each echo session is a server-side WebRTC peer,
so an anonymous flood of offers would take them all. A test is started for a visitor with a
booking link of an appointment still to come (the link cookie of `/b/{token}` or `/j/{token}`,
or an invitation's), for a logged-in staff member (bearer token or session cookie), or for a
browser that solved an ALTCHA proof of work, each solution accepted once.

The page `/verbindungstest` asks the same question, so that it carries the ALTCHA widget
exactly when the API will want a proof.
"""

from __future__ import annotations

from fastapi import Request

from scheduler.errors import NotFound, PermissionDenied, TokenError
from web.deps import container, protection
from web.pages.security import link_token
from web.pages.session import optional_staff


class ProofRequired(PermissionDenied):
    code = "proof_required"


def holds_booking_link(request: Request) -> bool:
    """Whether the link cookie leads to a video room that is still to come or open."""
    token = link_token(request)
    if token is None:
        return False
    services = container(request)
    try:
        window = services.rooms.link_window(token)
    except (TokenError, NotFound):
        return False
    return not window.closed(services.scheduler.clock())


def _staff_bearer(request: Request, bearer: str | None) -> bool:
    if not bearer:
        return False
    try:
        container(request).accounts.identify(bearer)
    except TokenError:
        return False
    return True


def admit(request: Request, bearer: str | None, proof: str | None) -> None:
    """Raise ProofRequired unless this request may start a connection test. A proof is only
    looked at, and then used up, when nothing else admits the request; a bad one raises
    AltchaRejected (422)."""
    if _staff_bearer(request, bearer) or optional_staff(request) is not None:
        return
    if holds_booking_link(request):
        return
    if not proof:
        raise ProofRequired("no booking link, staff login or proof of work")
    protection(request).altcha.verify(proof)
