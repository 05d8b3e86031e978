"""The staff API of requests about a person by phone or letter (scheduler/people.py, for
administrators): find a person's records, export them, erase them with the counts confirmed.
The pages are web/pages/staff_people.py; docs/privacy-requests.md says what each step does."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from scheduler.people import Person
from web.deps import Actor, Services
from web.schemas import Int

router = APIRouter(prefix="/api/v1/staff/people", tags=["staff"])

Email = Annotated[str, Query(max_length=320, description="the person's e-mail address")]
Phone = Annotated[
    str, Query(max_length=64, description="the person's phone number, at least 6 digits")
]
Count = Annotated[Int, Field(ge=0, le=2**31 - 1)]


class CountsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bookings: Count
    callbacks: Count
    waitlist: Count


class CountsOut(BaseModel):
    bookings: int
    callbacks: int
    waitlist: int


class PersonRecordsOut(BaseModel):
    exported_at: str
    counts: CountsOut
    bookings: list[dict[str, Any]] = Field(
        description="each: booking, staff_notes, access_log, documents, emails"
    )
    callbacks: list[dict[str, Any]]
    waitlist: list[dict[str, Any]]


class EraseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, Field(max_length=320)] = ""
    phone: Annotated[str, Field(max_length=64)] = ""
    confirmed: CountsIn = Field(description="the counts the administrator saw and confirmed")


class ErasedOut(BaseModel):
    counts: dict[str, int] = Field(description="what was erased, by kind of record")


def _person(email: str, phone: str) -> Person:
    return Person(email=email.strip() or None, phone=phone.strip() or None)


@router.get("", response_model=PersonRecordsOut)
def find_person(
    actor: Actor, services: Services, email: Email = "", phone: Phone = ""
) -> dict[str, Any]:
    """Every record of the person, found by e-mail address or phone number (audited)."""
    return services.people.find(actor, _person(email, phone))


@router.get(
    "/export",
    response_model=PersonRecordsOut,
    responses={200: {"description": "the records as a file (Content-Disposition: attachment)"}},
)
def export_person(
    actor: Actor, services: Services, email: Email = "", phone: Phone = ""
) -> JSONResponse:
    """The same records, as the file handed to the person (audited as an export)."""
    exported = services.people.export(actor, _person(email, phone))
    return JSONResponse(
        exported,
        headers={
            "Content-Disposition": 'attachment; filename="personendaten.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post(
    "/erase",
    response_model=ErasedOut,
    responses={
        409: {
            "description": "records_changed: the counts differ from those confirmed; "
            "person_busy: an appointment to come or a callback request waiting"
        }
    },
)
def erase_person(body: EraseIn, actor: Actor, services: Services) -> ErasedOut:
    """Erase every record of the person, if the counts are still those confirmed."""
    person = _person(body.email, body.phone)
    return ErasedOut(counts=services.people.erase(actor, person, body.confirmed.model_dump()))
