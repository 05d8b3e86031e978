"""ALTCHA challenges for the booking form's widget (and for integrators who want the normal
booking limit): a proof of work solved in the browser, verified in web/protection.py."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from web.deps import Guard

router = APIRouter(prefix="/api/v1", tags=["citizens"])


@router.get(
    "/altcha/challenge",
    responses={
        200: {
            "description": (
                "A signed challenge in the ALTCHA v2 format. Solve it (as the `altcha` widget "
                "or library does) and send the base64 payload as the `altcha` form field or the "
                "`X-Altcha` header; each solution is accepted once, until `expiresAt`."
            )
        }
    },
)
def altcha_challenge(guard: Guard) -> JSONResponse:
    return JSONResponse(guard.altcha.challenge(), headers={"Cache-Control": "no-store"})
