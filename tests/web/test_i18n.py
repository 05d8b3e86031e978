"""The message catalogues: every error message has a German text; language negotiation."""

from __future__ import annotations

import string

import pytest

from scheduler import errors
from web.errors import MESSAGES
from web.i18n import DEFAULT_LANGUAGE, Catalogues


@pytest.fixture(scope="module")
def catalogues() -> Catalogues:
    return Catalogues()


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def all_error_classes(cls: type[errors.SchedulerError]) -> list[type[errors.SchedulerError]]:
    return [cls, *(c for sub in cls.__subclasses__() for c in all_error_classes(sub))]


def test_german_and_english_catalogues_exist(catalogues):
    assert {"de", "en"} <= set(catalogues.languages)
    assert DEFAULT_LANGUAGE == "de"


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_message_has_a_german_translation(catalogues, code):
    english = MESSAGES[code]
    german = catalogues.translations("de").gettext(english)
    assert german.strip()
    assert fields(german) == fields(english)


def test_most_german_messages_differ_from_the_english(catalogues):
    same = [m for m in MESSAGES.values() if catalogues.translations("de").gettext(m) == m]
    assert len(same) <= len(MESSAGES) // 10, same


def test_english_messages_are_the_msgids(catalogues):
    for english in MESSAGES.values():
        assert catalogues.gettext("en", english) == english


def test_placeholders_are_filled_in_german(catalogues):
    text = catalogues.gettext("de", MESSAGES["range_too_long"], maximum=62)
    assert "62" in text
    assert "{" not in text


def test_an_unknown_language_falls_back_to_german(catalogues):
    english = MESSAGES["not_found"]
    assert catalogues.gettext("fr", english) == catalogues.gettext("de", english)


def test_every_error_code_has_a_message():
    codes = {cls.code for cls in all_error_classes(errors.SchedulerError)}
    assert codes - {"error"} <= set(MESSAGES)


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("en-US", "en"),
        ("en", "en"),
        ("en-GB,en;q=0.9", "en"),
        ("de-DE", "de"),
        (None, "de"),
        ("", "de"),
        ("fr", "de"),
        ("fr-FR,fr;q=0.9", "de"),
        ("fr, en;q=0.5", "en"),
        ("en;q=0.2, de;q=0.8", "de"),
        ("de;q=0, en", "en"),
        ("en;q=abc, de", "de"),
        ("*", "de"),
        ("!!!", "de"),
    ],
)
def test_negotiate_picks_the_best_supported_language(catalogues, header, language):
    assert catalogues.negotiate(header) == language
