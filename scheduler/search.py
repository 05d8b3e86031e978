"""Finding a booking by its reference, the citizen's name, e-mail address or phone number.

Matching is partial and ignores case and accents alike on SQLite and PostgreSQL: neither
database folds "Müller" to "muller" by itself (SQLite's LIKE knows ASCII only, PostgreSQL's
`unaccent` is an extension), so the booking carries a folded copy of what can be searched,
`bookings.search_key`, written with the booking (`scheduler/services.py`) and erased with its
personal data (`scheduler/retention.py`). A search is a LIKE per word on that column; on
PostgreSQL a trigram index serves it (migration 0009).

Folding: Unicode NFKD, combining marks dropped, `casefold` (ß → ss), and the letters NFKD does
not take apart (ł, ø, æ…) spelled out. German names are written both ways ("Müller", "Mueller"),
so the key holds the German spelling with ae/oe/ue too, and a word typed with an umlaut looks
for either: "müller" finds "Mueller" and "Müller", "muller" finds "Müller".
Phone numbers are compared by their digits without +49, 0049 or the trunk 0.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from scheduler.errors import InvalidRequest
from scheduler.models import Booking, BookingStatus

SEARCH_LIMIT = 50  # hits shown; more means: be more precise
MIN_QUERY_LENGTH = 2  # characters after folding, so that one letter does not list everyone
MAX_QUERY_LENGTH = 100
KEY_LENGTH = 1000  # bookings.search_key

_LETTERS = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ı": "i"}
)
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})
_PHONE_LIKE = re.compile(r"[\d\s+()/.-]+")
_REFERENCE = re.compile(r"[0-9A-Za-z]{4}-?[0-9A-Za-z]{4}")


def fold(text: str) -> str:
    """`text` without case and accents, for comparing: "Łukasz MÜLLER-Straße" →
    "lukasz muller-strasse"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.casefold().translate(_LETTERS)


def german_fold(text: str) -> str:
    """`fold` with the German spelling of the umlauts: "Müller" → "mueller"."""
    return fold(unicodedata.normalize("NFC", text.casefold()).translate(_GERMAN))


def phone_digits(phone: str) -> str:
    """The digits of a phone number without the German country code or trunk prefix:
    "+49 391 540-0", "0049 391 5400" and "0391 5400" all give "3915400"."""
    digits = re.sub(r"\D", "", phone)
    if phone.strip().startswith("+49") or digits.startswith("0049"):
        digits = digits[2:] if phone.strip().startswith("+49") else digits[4:]
    return digits.lstrip("0")


def search_key(reference: str | None, name: str, email: str | None, phone: str | None) -> str:
    """What the search compares with: the reference (with and without its dash), the name
    in both spellings, the e-mail address and the phone number's digits."""
    parts = [reference or "", (reference or "").replace("-", "")]
    parts += [fold(name), german_fold(name), fold(email or ""), phone_digits(phone or "")]
    words = dict.fromkeys(p for p in parts if p)  # in order, each once
    return " ".join(w.lower() for w in words)[:KEY_LENGTH]


@dataclass(frozen=True, slots=True)
class Query:
    """A search as typed, read: each word a set of spellings of which one must match."""

    text: str
    words: tuple[tuple[str, ...], ...]
    reference: str | None  # the whole query read as a booking reference, if it can be one

    @classmethod
    def parse(cls, text: str) -> Query:
        text = text.strip()[:MAX_QUERY_LENGTH]
        words: list[tuple[str, ...]] = []
        if _PHONE_LIKE.fullmatch(text) and sum(c.isdigit() for c in text) >= 3:
            words.append((phone_digits(text),))  # "0391 540 0" is one number, not three words
        else:
            for word in text.split():
                spellings = dict.fromkeys(s for s in (fold(word), german_fold(word)) if s)
                if spellings:
                    words.append(tuple(spellings))
        compact = text.replace(" ", "")
        reference = None
        if _REFERENCE.fullmatch(compact):
            plain = compact.replace("-", "").upper()
            reference = f"{plain[:4]}-{plain[4:]}"
        if sum(len(w[0]) for w in words) < MIN_QUERY_LENGTH and reference is None:
            raise InvalidRequest(
                "search too short", field="q", code="search_too_short", minimum=MIN_QUERY_LENGTH
            )
        return cls(text, tuple(words), reference)

    def condition(self) -> ColumnElement[bool]:
        every_word = and_(
            *(
                or_(*(Booking.search_key.like(f"%{_escape(s)}%", escape="\\") for s in word))
                for word in self.words
            )
        )
        if self.reference is None:
            return every_word
        # An erased booking keeps its reference but no search key.
        return or_(every_word, Booking.reference == self.reference)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True, slots=True)
class Found:
    bookings: list[Booking]
    more: bool  # there are more hits than SEARCH_LIMIT


def find(session: Session, query: Query, now: datetime, advisor_id: int | None = None) -> Found:
    """The bookings matching `query`, those still to come first (soonest first), then the
    past ones (latest first); only `advisor_id`'s when given. Holds are no bookings."""
    base = select(Booking).where(query.condition(), Booking.status != BookingStatus.HELD)
    if advisor_id is not None:
        base = base.where(Booking.advisor_id == advisor_id)
    coming = list(
        session.scalars(
            base.where(Booking.start_at >= now)
            .order_by(Booking.start_at, Booking.id)
            .limit(SEARCH_LIMIT + 1)
        )
    )
    room = SEARCH_LIMIT + 1 - len(coming)
    past = (
        list(
            session.scalars(
                base.where(Booking.start_at < now)
                .order_by(Booking.start_at.desc(), Booking.id.desc())
                .limit(room)
            )
        )
        if room > 0
        else []
    )
    hits = coming + past
    return Found(hits[:SEARCH_LIMIT], len(hits) > SEARCH_LIMIT)
