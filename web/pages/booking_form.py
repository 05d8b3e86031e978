"""The details form of a booking: reading, checking and keeping what the person typed.

The fields are checked with the same types as the JSON API (web/schemas.py); what a booking
needs beyond well-formed fields (a phone number for a callback, the length of the note...) is
the booking engine's to decide (scheduler/requests.py), and its refusals are shown at their
fields. The messages are English msgids, translated when the page is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter
from starlette.datastructures import FormData

from scheduler.errors import InvalidRequest
from scheduler.requests import BookingRequest
from web.pages.form_values import (
    EMAIL,
    LANGUAGES,
    email_problem,
    form_text,
    name_problem,
    phone_problem,
    valid,
)
from web.schemas import ShortName

_INTERPRETER = TypeAdapter(ShortName)

# The engine's refusals of a booking (by code), as this form asks to put them right; a
# placeholder is filled from the refusal (its `maximum`).
RULE_MESSAGES = {
    "phone_required": "Enter the phone number we should call.",
    "email_required": "Enter your e-mail address.",
    "notes_too_long": "Shorten your note to at most %(maximum)s characters.",
    "wheelchair_access_in_person_only": (
        "Step-free access can only be arranged for an appointment in person."
    ),
}

# Field name -> the id of its input, which the error summary links to.
FIELD_IDS = {
    "name": "field-name",
    "email": "field-email",
    "phone": "field-phone",
    "language": "field-language",
    "interpreter_language": "field-interpreter",
    "wheelchair_access": "field-wheelchair",
    "notes": "field-notes",
    "consent": "field-consent",
    "altcha": "field-altcha",
}


@dataclass
class Details:
    """What the form holds; `errors` maps a field to the English text of its problem."""

    name: str = ""
    email: str = ""
    phone: str = ""
    language: str = "de"
    interpreter_language: str = ""
    sign_language: bool = False
    wheelchair_access: bool = False
    notes: str = ""
    consent: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    def request(
        self, service_id: int, start: Any, channel: str, hold_token: str | None
    ) -> BookingRequest:
        return BookingRequest(
            service_id=service_id,
            start=start,
            channel=channel,
            name=self.name,
            # Normalized as the API's EmailStr does, so that both store the same address.
            email=EMAIL.validate_python(self.email),
            phone=self.phone or None,
            language=self.language,
            notes=self.notes,
            hold_token=hold_token,
            interpreter_language=self.interpreter_language or None,
            sign_language=self.sign_language,
            wheelchair_access=self.wheelchair_access,
        )

    def refused(self, error: InvalidRequest) -> bool:
        """The engine's refusal of the booking at the field it names, in this form's words;
        False for a refusal the form has no field or no words for."""
        field = str(error.params.get("field", ""))
        text = RULE_MESSAGES.get(error.code)
        if text is None or field not in FIELD_IDS:
            return False
        self.errors[field] = text
        return True


def read_details(form: FormData) -> Details:
    details = Details(
        name=form_text(form, "name"),
        email=form_text(form, "email"),
        phone=form_text(form, "phone"),
        language=form_text(form, "language"),
        interpreter_language=form_text(form, "interpreter_language"),
        sign_language=bool(form.get("sign_language")),
        wheelchair_access=bool(form.get("wheelchair_access")),
        notes=form_text(form, "notes"),
        consent=bool(form.get("consent")),
    )
    errors = details.errors
    problems = {
        "name": name_problem(details.name),
        "email": email_problem(details.email, required=True),
        "phone": phone_problem(details.phone),
    }
    errors.update({name: problem for name, problem in problems.items() if problem})
    if details.language not in LANGUAGES:
        errors["language"] = "Choose the language of the consultation."
    if details.interpreter_language and not valid(_INTERPRETER, details.interpreter_language):
        errors["interpreter_language"] = "Enter the language with at most 50 characters."
    if "\x00" in details.notes:
        errors["notes"] = "Remove the characters that are not allowed from your note."
    if not details.consent:
        errors["consent"] = "Agree to the processing of your data to book the appointment."
    return details
