"""A citizen's rights through the booking's magic link (DSGVO Art. 15, 17): the export of
everything held about them, and the erasure once the appointment is over (scheduler/rights.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from web.deps import Services, Token

router = APIRouter(prefix="/api/v1", tags=["citizens"])


class ErasedOut(BaseModel):
    erased: bool
    counts: dict[str, int]


@router.get(
    "/booking/export",
    summary="Everything held about this booking's person",
    description="The booking, the staff's notes on it, who of the staff opened it (roles and "
    "times), the e-mails about it, its documents, and the other bookings, callback requests "
    "and waiting-list places of the same e-mail address. DSGVO Art. 15.",
)
def export(token: Token, services: Services) -> dict[str, Any]:
    return services.rights.export(token)


@router.post(
    "/booking/erase",
    response_model=ErasedOut,
    summary="Erase this booking's personal data",
    description="Once the appointment is over or cancelled (409 before): the same erasure "
    "as the retention purge, now. The link stops working. DSGVO Art. 17.",
    responses={409: {"description": "The appointment is still to come"}},
)
def erase(token: Token, services: Services) -> ErasedOut:
    return ErasedOut(erased=True, counts=services.rights.erase(token))
