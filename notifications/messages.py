"""The e-mails a citizen gets about a booking: plain text and HTML, in every catalogue language.

`templates/<kind>.txt` and `templates/<kind>.html` extend one layout per format; the texts come
from `locale/<code>/LC_MESSAGES/messages.po` (the msgids are the English texts), read with Babel
when the renderer is built, so a language is added by dropping in a catalogue, no code change.
The HTML part is a self-contained document: no images, no remote CSS or fonts, nothing that
reports back when the mail is opened (DSGVO), and it reads the same as the text part.
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from notifications.template_cache import TemplateCache
from scheduler.i18n import load_catalogue

LOCALE_DIR = Path(__file__).parent / "locale"
TEMPLATE_DIR = Path(__file__).parent / "templates"
DEFAULT_LANGUAGE = "de"
COMPILED = TemplateCache()

# Date and time patterns people read easily ("Dienstag, 7. Januar 2031" / "9:00 AM"); any other
# language gets CLDR's full date and short time, so it needs no entry here.
_PATTERNS = {"de": ("EEEE, d. MMMM y", "HH:mm"), "en": ("EEEE, d MMMM y", "h:mm a")}


def N_(message: str) -> str:
    """Marks a msgid for extraction (keyword `N_`); it is translated when a mail is rendered."""
    return message


class MessageKind(StrEnum):
    CONFIRMATION = "confirmation"
    RESCHEDULE = "reschedule"
    CANCELLATION = "cancellation"
    REMINDER = "reminder"
    CALLBACK_SCHEDULED = "callback_scheduled"
    LINK_REISSUED = "link_reissued"
    # An absence or closure day hit the appointment (scheduler/displacement.py): it went to a
    # colleague at the same time, or it was cancelled with an apology and what to do next.
    DISPLACED_MOVED = "displaced_moved"
    DISPLACED_CANCELLED = "displaced_cancelled"
    # To a team's address (notifications/team_mail.py): a booking of its services.
    TEAM_BOOKED = "team_booked"
    TEAM_MOVED = "team_moved"
    TEAM_CANCELLED = "team_cancelled"


_SUBJECTS = {
    MessageKind.CONFIRMATION: N_("Appointment confirmed %(reference)s: %(service)s on %(date)s"),
    MessageKind.RESCHEDULE: N_("Appointment moved %(reference)s: %(service)s now on %(date)s"),
    MessageKind.CANCELLATION: N_("Appointment cancelled %(reference)s: %(service)s on %(date)s"),
    MessageKind.REMINDER: N_("Appointment reminder %(reference)s: %(service)s on %(date)s"),
    MessageKind.CALLBACK_SCHEDULED: N_("Callback arranged %(reference)s: %(service)s on %(date)s"),
    MessageKind.LINK_REISSUED: N_(
        "New link for appointment %(reference)s: %(service)s on %(date)s"
    ),
    MessageKind.DISPLACED_MOVED: N_(
        "New advisor, same time %(reference)s: %(service)s on %(date)s"
    ),
    MessageKind.DISPLACED_CANCELLED: N_(
        "We are sorry, appointment cancelled %(reference)s: %(service)s on %(date)s"
    ),
    MessageKind.TEAM_BOOKED: N_("New booking %(reference)s: %(service)s on %(date)s"),
    MessageKind.TEAM_MOVED: N_("Booking moved %(reference)s: %(service)s now on %(date)s"),
    MessageKind.TEAM_CANCELLED: N_("Booking cancelled %(reference)s: %(service)s on %(date)s"),
}
# Notices to staff, not to the citizen: no links of the citizen's, no invite.
STAFF_KINDS = frozenset(
    {MessageKind.TEAM_BOOKED, MessageKind.TEAM_MOVED, MessageKind.TEAM_CANCELLED}
)
_AGENDA_SUBJECT = N_("Your appointments on %(date)s")
_CHANNELS = {
    "video": N_("Video consultation"),
    "phone": N_("Phone consultation"),
    "in_person": N_("In person"),
}
# The German catalogue adds "Uhr" after the time here.
_DATE_AND_TIME = N_("%(date)s, %(time)s")
_DATE_AND_TIME_RANGE = N_("%(date)s, %(start)s to %(end)s")


class CallbackMailKind(StrEnum):
    """Mails about a callback request (scheduler/callbacks.py), which is no booking: they have
    their own context and templates (`templates/callback_*`)."""

    CALLBACK_RECEIVED = "callback_received"
    CALLBACK_CLOSED = "callback_closed"


_CALLBACK_SUBJECTS = {
    CallbackMailKind.CALLBACK_RECEIVED: N_("Callback request received %(reference)s: %(service)s"),
    CallbackMailKind.CALLBACK_CLOSED: N_("Callback request closed %(reference)s: %(service)s"),
}


@dataclass(frozen=True, slots=True)
class MailContext:
    reference: str
    service_name: str
    channel: str  # "video" | "phone" | "in_person"
    start: datetime  # aware, in any zone; shown in `timezone`
    end: datetime
    timezone: str
    citizen_name: str
    manage_url: str
    join_url: str | None
    booking_url: str  # the start page, to book again
    connection_test_url: str
    phone: str | None
    address: str | None
    team_name: str | None
    hotline_phone: str
    previous_start: datetime | None = None
    # The displaced kinds only: who holds the appointment now, why ("absence" | "closure"),
    # and for a cancellation the citizen's place first in line on the waiting list, the next
    # free times (when, address), the pages to choose another time, to join the waiting list
    # and to ask for a callback.
    advisor_name: str | None = None
    cause: str | None = None
    free_times: tuple[tuple[datetime, str], ...] = ()
    more_times_url: str | None = None
    place_url: str | None = None
    waitlist_url: str | None = None
    callback_url: str | None = None
    # The reminder only: the documents the service names that the citizen has not handed in
    # yet (documents/requirements.py), in the mail's language.
    missing_documents: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CallbackMailContext:
    reference: str
    service_name: str
    citizen_name: str
    phone: str
    windows: tuple[tuple[datetime, datetime], ...]  # aware; shown in `timezone`
    timezone: str
    withdraw_url: str
    booking_url: str  # the start page: book an appointment or ask for a callback again
    hotline_phone: str


@dataclass(frozen=True, slots=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def _tel(number: str) -> str:
    """A `tel:` URI (RFC 3966) for a number written for people, e.g. "0391 540-0"."""
    return "tel:" + re.sub(r"[^0-9+]", "", number)


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


class MailRenderer:
    """Renders a `MessageKind` for a booking in one language; unknown languages get German."""

    def __init__(self, locale_dir: Path = LOCALE_DIR, template_dir: Path = TEMPLATE_DIR) -> None:
        self._translations = {
            po.parent.parent.name: load_catalogue([po])
            for po in sorted(locale_dir.glob("*/LC_MESSAGES/messages.po"))
        }
        if DEFAULT_LANGUAGE not in self._translations:
            raise FileNotFoundError(f"no {DEFAULT_LANGUAGE} catalogue in {locale_dir}")
        # One environment per language: installing translations changes an environment's
        # globals, so sharing one between threads rendering different languages would race.
        self._environments = {
            language: self._environment(template_dir, translations)
            for language, translations in self._translations.items()
        }

    @staticmethod
    def _environment(template_dir: Path, translations: gettext.GNUTranslations) -> Environment:
        environment = Environment(
            loader=FileSystemLoader(template_dir),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=StrictUndefined,
            bytecode_cache=COMPILED,
        )
        environment.policies["ext.i18n.trimmed"] = True
        environment.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]  # added by the i18n extension
        environment.filters["tel"] = _tel
        return environment

    def render_callback(
        self, kind: CallbackMailKind, context: CallbackMailContext, language: str
    ) -> RenderedMail:
        kind = CallbackMailKind(kind)
        language = self._language(language)
        translations = self._translations[language]
        dates = _Dates(translations, Locale.parse(language), ZoneInfo(context.timezone))
        values = {
            "ctx": context,
            "language": language,
            "direction": "rtl"
            if Locale.parse(language).character_order == "right-to-left"
            else "ltr",
            "windows": [dates.date_and_time_range(start, end) for start, end in context.windows],
        }
        subject = translations.gettext(_CALLBACK_SUBJECTS[kind]) % {
            "reference": context.reference,
            "service": context.service_name,
        }
        subject = " ".join(subject.split())
        environment = self._environments[language]
        text = environment.get_template(f"{kind}.txt").render(values, subject=subject)
        html = environment.get_template(f"{kind}.html").render(values, subject=subject)
        return RenderedMail(subject=subject, text=_tidy_text(text), html=html)

    def render_agenda(
        self,
        language: str,
        *,
        advisor_name: str,
        day: date,
        zone: ZoneInfo,
        appointments: Sequence[tuple[datetime, datetime, str, str, str]],
        agenda_url: str,
    ) -> RenderedMail:
        """An advisor's day: (start, end, service, channel, reference) per appointment."""
        language = self._language(language)
        translations = self._translations[language]
        locale = Locale.parse(language)
        dates = _Dates(translations, locale, zone)
        subject = translations.gettext(_AGENDA_SUBJECT) % {
            "date": dates.date(datetime.combine(day, datetime.min.time(), zone))
        }
        values = {
            "language": language,
            "direction": "rtl" if locale.character_order == "right-to-left" else "ltr",
            "advisor_name": advisor_name,
            "appointments": [
                (
                    f"{dates.time(start)}–{dates.time(end)}",
                    service,
                    translations.gettext(_CHANNELS.get(channel, channel)),
                    reference,
                )
                for start, end, service, channel, reference in appointments
            ],
            "agenda_url": agenda_url,
        }
        environment = self._environments[language]
        text = environment.get_template("agenda.txt").render(values, subject=subject)
        html = environment.get_template("agenda.html").render(values, subject=subject)
        return RenderedMail(subject=subject, text=_tidy_text(text), html=html)

    def languages(self) -> list[str]:
        return list(self._translations)

    def _language(self, language: str) -> str:
        if language in self._translations:
            return language
        primary = language.replace("-", "_").partition("_")[0].lower()
        return primary if primary in self._translations else DEFAULT_LANGUAGE

    def render(self, kind: MessageKind, context: MailContext, language: str) -> RenderedMail:
        kind = MessageKind(kind)
        language = self._language(language)
        translations = self._translations[language]
        values = _values(kind, context, language, translations)
        subject = translations.gettext(_SUBJECTS[kind]) % {
            "reference": context.reference,
            "service": context.service_name,
            "date": values["start_date"],
        }
        # A line break in a header would start a new header: keep the subject on one line.
        subject = " ".join(subject.split())
        environment = self._environments[language]
        text = environment.get_template(f"{kind}.txt").render(values, subject=subject)
        html = environment.get_template(f"{kind}.html").render(values, subject=subject)
        return RenderedMail(subject=subject, text=_tidy_text(text), html=html)


@dataclass(frozen=True, slots=True)
class _Dates:
    """Formats instants for one language in the booking's time zone."""

    translations: gettext.GNUTranslations
    locale: Locale
    zone: ZoneInfo

    def date(self, moment: datetime) -> str:
        pattern = _PATTERNS.get(self.locale.language, ("full", "short"))[0]
        return format_date(self._local(moment).date(), pattern, locale=self.locale)

    def time(self, moment: datetime) -> str:
        pattern = _PATTERNS.get(self.locale.language, ("full", "short"))[1]
        return format_time(self._local(moment), pattern, tzinfo=self.zone, locale=self.locale)

    def date_and_time(self, moment: datetime) -> str:
        return self.translations.gettext(_DATE_AND_TIME) % {
            "date": self.date(moment),
            "time": self.time(moment),
        }

    def date_and_time_range(self, start: datetime, end: datetime) -> str:
        return self.translations.gettext(_DATE_AND_TIME_RANGE) % {
            "date": self.date(start),
            "start": self.time(start),
            "end": self.time(end),
        }

    def _local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            # A naive time would silently be read in the server's zone.
            raise ValueError(f"{moment!r} has no time zone")
        return moment.astimezone(self.zone)


def _values(
    kind: MessageKind, context: MailContext, language: str, translations: gettext.GNUTranslations
) -> dict[str, Any]:
    locale = Locale.parse(language)
    dates = _Dates(translations, locale, ZoneInfo(context.timezone))
    moved = kind in (MessageKind.RESCHEDULE, MessageKind.TEAM_MOVED)
    previous = context.previous_start if moved else None
    return {
        "ctx": context,
        "language": language,
        "direction": "rtl" if locale.character_order == "right-to-left" else "ltr",
        "start_date": dates.date(context.start),
        "start_time": dates.time(context.start),
        "when": dates.date_and_time_range(context.start, context.end),
        "previous_when": dates.date_and_time(previous) if previous else None,
        "free_times": [(dates.date_and_time(when), url) for when, url in context.free_times],
    }
