"""What the citizens' forms (a booking's details, the waiting list, a callback request) share:
reading a field, and checking a name, an e-mail address and a phone number with the JSON API's
types (web/schemas.py). A check returns the problem as an English msgid, translated when the
page is rendered, or None."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import EmailStr, Field, TypeAdapter, ValidationError
from starlette.datastructures import FormData

from web.schemas import Name, Phone

LANGUAGES = ("de", "en")

# A named alias like the others: to mypy (1.20) an `Annotated[...]` written inline is a value,
# which pydantic's `TypeForm[T]` parameter accepted or refused depending on mypy's cache.
Email = Annotated[EmailStr, Field(max_length=320)]

EMAIL = TypeAdapter(Email)
_NAME = TypeAdapter(Name)
_PHONE = TypeAdapter(Phone)

PHONE_INVALID = "Enter a phone number with digits only, for example 0391 123456."


def form_text(form: FormData, name: str) -> str:
    """A text field as typed, without surrounding white space; "" when missing."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def valid(adapter: TypeAdapter[Any], value: str) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def name_problem(value: str) -> str | None:
    if not value:
        return "Enter your name."
    if not valid(_NAME, value):
        return "Enter your name with at most 200 characters."
    return None


def email_problem(value: str, *, required: bool) -> str | None:
    if not value:
        return "Enter your e-mail address." if required else None
    if not valid(EMAIL, value):
        return "Enter an e-mail address in the form name@example.org."
    return None


def phone_problem(value: str, *, missing: str | None = None) -> str | None:
    """`missing` is the message for an empty number where one is needed (None: optional)."""
    if not value:
        return missing
    return None if valid(_PHONE, value) else PHONE_INVALID
