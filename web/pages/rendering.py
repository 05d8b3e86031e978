"""Rendering pages: one Jinja2 environment, translations per request, the common context."""

from __future__ import annotations

import gettext
import hashlib
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context

from notifications.template_cache import TemplateCache
from web.i18n import Catalogues
from web.pages.security import csrf_token_for, set_csrf_cookie
from web.settings import Settings

TEMPLATE_DIR = Path(__file__).parent.parent / "templates"
STATIC_DIR = Path(__file__).parent.parent / "static"

LANGUAGE_NAMES = {"de": "Deutsch", "en": "English"}
# Dates for a European audience: "Tuesday, 7 January 2031", not the US order.
DATE_LOCALES = {"en": "en_GB"}
COMPILED = TemplateCache()


def date_locale(language: str) -> str:
    return DATE_LOCALES.get(language, language)


@pass_context
def _gettext(context: Context, message: str) -> str:
    translations: gettext.GNUTranslations = context["translations"]
    return translations.gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, count: int) -> str:
    translations: gettext.GNUTranslations = context["translations"]
    return translations.ngettext(singular, plural, count)


@cache
def static_url(path: str) -> str:
    """The URL of a static file with a content hash, so that browsers may cache it for long."""
    digest = hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:12]
    return f"/static/{path}?v={digest}"


class Pages:
    def __init__(self, catalogues: Catalogues, settings: Settings) -> None:
        self.catalogues = catalogues
        self.settings = settings
        self.tz = ZoneInfo(settings.timezone)
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATE_DIR),
            autoescape=select_autoescape(default=True),
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
            bytecode_cache=COMPILED,
        )
        # newstyle: `_("Hello %(name)s", name=...)` escapes its parameters.
        self.env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]  # jinja2's i18n extension adds it at run time
        self.env.globals["static_url"] = static_url
        self.env.filters |= {
            "local": self._local,
            "date_long": self._date_long,
            "date_short": self._date_short,
            "time": self._time,
        }

    def language(self, request: Request) -> str:
        return getattr(request.state, "language", None) or self.catalogues.negotiate(
            request.headers.get("accept-language")
        )

    def translations(self, request: Request) -> gettext.GNUTranslations:
        return self.catalogues.translations(self.language(request))

    def gettext(self, request: Request, message: str, **params: object) -> str:
        """A text for Python code (flash messages, errors); `{name}` placeholders."""
        return self.catalogues.gettext(self.language(request), message, **params)

    def render(
        self,
        request: Request,
        template: str,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        language = self.language(request)
        csrf, fresh = csrf_token_for(request)
        html = self.env.get_template(template).render(
            request=request,
            lang=language,
            translations=self.catalogues.translations(language),
            language_links=self._language_links(request, language),
            csrf_token=csrf,
            hotline_phone=self.settings.hotline_phone,
            status_code=status_code,
            **context,
        )
        response = HTMLResponse(html, status_code=status_code, headers=headers)
        response.headers["cache-control"] = "no-store"
        if fresh:
            set_csrf_cookie(response, csrf, secure=self.secure)
        return response

    def error(self, request: Request, status_code: int, code: str, message: str) -> HTMLResponse:
        """The page for an error; `error.html` picks the heading by status and code."""
        return self.render(
            request, "error.html", status_code=status_code, code=code, message=message
        )

    @property
    def secure(self) -> bool:
        return self.settings.base_url.startswith("https://")

    def _language_links(self, request: Request, current: str) -> list[dict[str, Any]]:
        links = []
        for code in self.catalogues.languages:
            query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
            query.append(("lang", code))
            links.append(
                {
                    "code": code,
                    "name": LANGUAGE_NAMES.get(code, code),
                    # Only a query: a path taken from the request (`//evil.example/x`) could
                    # lead off the site.
                    "url": f"?{urlencode(query)}",
                    "current": code == current,
                }
            )
        return links

    # Filters: times are stored in UTC and shown in the office's zone, in the page's language.
    def _local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    @pass_context
    def _date_long(self, context: Any, day: date | datetime) -> str:
        if isinstance(day, datetime):
            day = day.astimezone(self.tz).date()
        return format_date(day, format="full", locale=date_locale(context["lang"]))

    @pass_context
    def _date_short(self, context: Any, day: date | datetime) -> str:
        if isinstance(day, datetime):
            day = day.astimezone(self.tz).date()
        return format_date(
            day,
            format="EEE d. MMM" if context["lang"] == "de" else "EEE d MMM",
            locale=date_locale(context["lang"]),
        )

    @pass_context
    def _time(self, context: Any, moment: datetime) -> str:
        return format_time(moment.astimezone(self.tz), format="HH:mm", locale=context["lang"])
