"""Every text of every page template has a German translation with the same placeholders."""

from __future__ import annotations

import re

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from web.i18n import LOCALE_DIR
from web.pages.rendering import TEMPLATE_DIR

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _template_texts() -> list[tuple[str, str]]:
    found: dict[str, str] = {}
    for filename, _, message, _, _ in extract_from_dir(
        str(TEMPLATE_DIR),
        method_map=[("**.html", "jinja2")],
        options_map={"**.html": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}},
    ):
        for text in message if isinstance(message, tuple) else (message,):
            found.setdefault(text, filename)
    return sorted(found.items())


def _german() -> dict[str, str]:
    texts: dict[str, str] = {}
    for po in sorted((LOCALE_DIR / "de" / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as file:
            for message in read_po(file):
                if message.id and isinstance(message.id, str):
                    texts.setdefault(message.id, message.string)
                elif message.id:  # plural forms
                    texts.setdefault(message.id[0], message.string[0])
                    texts.setdefault(message.id[1], message.string[1])
    return texts


TEXTS = _template_texts()
GERMAN = _german()


def test_templates_have_texts():
    assert len(TEXTS) > 10


@pytest.mark.parametrize(("text", "template"), TEXTS, ids=[t[:40] for t, _ in TEXTS])
def test_text_has_a_german_translation(text, template):
    translated = GERMAN.get(text)
    assert translated, f"{template}: no German text for {text!r}"
    assert set(PLACEHOLDER.findall(translated)) == set(PLACEHOLDER.findall(text))
