"""Translation catalogues (gettext .po files read with Babel) and language negotiation.

A language is added by dropping `locale/<code>/LC_MESSAGES/*.po` next to this file: no code
changes. The msgids are the English texts. A language may have several files (`messages.po` for
the API, one per group of pages); they are read as one catalogue.
"""

from __future__ import annotations

import gettext
from pathlib import Path

from babel import Locale, UnknownLocaleError

from scheduler.i18n import load_catalogue

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT_LANGUAGE = "de"


class Catalogues:
    def __init__(self, directory: Path = LOCALE_DIR) -> None:
        self._translations: dict[str, gettext.GNUTranslations] = {}
        for folder in sorted(directory.glob("*/LC_MESSAGES")):
            files = sorted(folder.glob("*.po"))
            if not files:
                continue
            self._translations[folder.parent.name] = load_catalogue(files)

    @property
    def languages(self) -> list[str]:
        return list(self._translations)

    def translations(self, language: str) -> gettext.GNUTranslations:
        return self._translations.get(language) or self._translations[DEFAULT_LANGUAGE]

    def gettext(self, language: str, message: str, **params: object) -> str:
        text = self.translations(language).gettext(message)
        return text.format(**params) if params else text

    def negotiate(self, accept_language: str | None) -> str:
        """The best of our languages for an Accept-Language header (RFC 9110 §12.5.4)."""
        if not accept_language:
            return DEFAULT_LANGUAGE
        weighted = []
        for part in accept_language.split(",")[:20]:
            tag, _, quality = part.strip().partition(";q=")
            try:
                weight = float(quality) if quality else 1.0
            except ValueError:
                continue
            weighted.append((weight, tag.strip().replace("-", "_")))
        preferred = [tag for weight, tag in sorted(weighted, key=lambda w: -w[0]) if weight > 0]
        try:
            found = Locale.negotiate(preferred, self.languages, sep="_")
        except (UnknownLocaleError, ValueError):
            found = None
        return str(found.language) if found else DEFAULT_LANGUAGE
