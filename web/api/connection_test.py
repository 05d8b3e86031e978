"""The citizens' connection test: the browser sends a WebRTC offer and gets its own camera and
microphone echoed back by a server-side peer (`rooms.echo`).

The offer must be complete (ICE gathering finished, candidates inside the SDP): there is no
trickle endpoint. A test ends by `DELETE`, when its connection closes, or after
`expires_in_seconds`, whichever comes first. Only a visitor with a booking link, a staff member
or a browser with a solved ALTCHA proof of work (header `X-Altcha`) starts one
(`web.connection_test_access`); anyone else gets 403 `proof_required`. A client (an IPv4
address, an IPv6 /64) runs one test at a time and `connection_tests_per_hour` in an hour (429
beyond), so that nobody takes every echo session. `DELETE` is idempotent: an unknown or already
ended session answers 204 as well, so a page may call it on unload without caring what happened
before.
Handlers are `async` because the peers live on the event loop.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from rooms.echo import public_candidates
from web.connection_test_access import admit
from web.deps import Bearer, Echo, client_address, protection

router = APIRouter(prefix="/api/v1/connection-test", tags=["connection test"])


class OfferIn(BaseModel):
    type: Literal["offer"]
    # Browser offers with audio, video and all their candidates stay well under 10 000.
    sdp: str = Field(min_length=1, max_length=20_000)


class AnswerOut(BaseModel):
    session_id: str
    type: Literal["answer"] = "answer"
    sdp: str
    expires_in_seconds: int


SessionId = Annotated[str, Path(max_length=64)]
AltchaProof = Annotated[
    str | None,
    Header(
        alias="X-Altcha",
        max_length=8000,
        description=(
            "a solved ALTCHA challenge (GET /api/v1/altcha/challenge), base64, as the widget "
            "submits it; needed without a booking link cookie or a staff login"
        ),
    ),
]


@router.post(
    "",
    response_model=AnswerOut,
    status_code=201,
    responses={
        403: {
            "description": (
                "`proof_required`: no booking link cookie, no staff login and no `X-Altcha` proof"
            )
        },
        422: {
            "description": (
                "not a usable WebRTC offer, or `altcha_invalid`: a forged, expired or reused proof"
            )
        },
        429: {"description": "too many connection tests from this client; see Retry-After"},
        503: {"description": "all connection tests are taken; see Retry-After"},
    },
)
async def start_connection_test(
    body: OfferIn, echo: Echo, request: Request, bearer: Bearer, altcha: AltchaProof = None
) -> AnswerOut:
    # In a thread: the checks read the database, and Redis for a used proof.
    token = bearer.credentials if bearer else None
    await run_in_threadpool(admit, request, token, altcha)
    guard = protection(request)
    # In a thread: with Redis the count is a network round trip.
    client = await run_in_threadpool(guard.connection_test_client, client_address(request))
    session = await echo.answer(body.sdp, client)
    return AnswerOut(
        session_id=session.id,
        sdp=public_candidates(session.answer_sdp, guard.public_address),
        expires_in_seconds=math.floor(session.seconds),
    )


@router.delete("/{session_id}", status_code=204)
async def end_connection_test(session_id: SessionId, echo: Echo) -> Response:
    await echo.close(session_id)
    return Response(status_code=204)
