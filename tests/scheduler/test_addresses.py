"""The cap of open bookings per person counts by one key per mailbox (scheduler/addresses.py):
the spellings of one address share it, and the cap cannot be dodged by any of them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from scheduler.addresses import cap_key
from scheduler.errors import TooManyOpenBookings
from scheduler.models import Booking
from tests.scheduler.test_services import TUESDAY, book, local


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("erika@example.org", "erika@example.org"),
        (" Erika@Example.ORG ", "erika@example.org"),
        ("erika+termin2@example.org", "erika@example.org"),  # sub-address (RFC 5233)
        ("ERIKA+A+B@EXAMPLE.ORG", "erika@example.org"),
        ("ｅｒｉｋａ@ｅｘａｍｐｌｅ.ｏｒｇ", "erika@example.org"),  # full-width letters (NFKC)
        ("erikа@example.org", "erika@example.org"),  # a Cyrillic а
        ("ЕRIKA@example.org", "erika@example.org"),  # a Cyrillic capital Е
        ("erіka@exаmple.org", "erika@example.org"),  # Cyrillic і, and а in the domain
        ("er\u200bika@example.org", "erika@example.org"),  # a zero-width space
        ("erika@example.org.", "erika@example.org"),  # the root dot
        ("erika@bücher.example", "erika@xn--bcher-kva.example"),  # IDNA
        ("erika@xn--bcher-kva.example", "erika@xn--bcher-kva.example"),
        ("e.rika.m@googlemail.com", "erikam@gmail.com"),  # Gmail ignores dots
        ("E.Rika+x@GMail.com", "erika@gmail.com"),
        ("e.rika@example.org", "e.rika@example.org"),  # elsewhere dots may matter
        ("+tag@example.org", "+tag@example.org"),  # nothing before the +: no sub-address
    ],
)
def test_the_cap_key_folds_the_spellings_of_one_mailbox(typed, key):
    assert cap_key(typed) == key


def test_different_mailboxes_keep_different_keys():
    keys = {cap_key(a) for a in ("erika@example.org", "erik@example.org", "erika@example.com")}
    assert len(keys) == 3


@pytest.mark.parametrize(
    "third",
    [
        "erika+noch1@example.org",
        "ｅｒｉｋａ@example.org",
        "erikа@example.org",  # a Cyrillic а
        "erika@EXAMPLE.ORG",
    ],
)
def test_the_cap_is_not_bypassed_by_another_spelling(container, world, third):
    service = world.service()
    world.advisor([service], password=None)
    book(container, service, local(TUESDAY, 9), "erika@example.org")
    book(container, service, local(TUESDAY, 10), "erika+zwei@example.org")

    with pytest.raises(TooManyOpenBookings):
        book(container, service, local(TUESDAY, 11), third)


def test_the_address_is_kept_as_typed_for_the_mail(container, world):
    service = world.service()
    world.advisor([service], password=None)
    booking = book(container, service, local(TUESDAY, 9), "Erika+Termin@Example.org")

    with container.sessions() as session:
        row = session.scalars(select(Booking).where(Booking.reference == booking.reference)).one()
    assert row.email == "Erika+Termin@Example.org"
    assert row.email_key == "erika@example.org"
