"""The accessibility statement, the privacy notice with the imprint and the explanations in
Leichte Sprache and sign language, in German and English, with the operator's values from the
settings."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import Clock
from web.app import create_app
from web.settings import Settings


def headings(html: str, level: int) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", text).strip()
        for text in re.findall(rf"<h{level}[^>]*>(.*?)</h{level}>", html, re.S)
    ]


@pytest.mark.parametrize(
    ("path", "lang", "title", "sections"),
    [
        (
            "/barrierefreiheit",
            "de",
            "Erklärung zur Barrierefreiheit",
            [
                "Stand der Vereinbarkeit mit den Anforderungen",
                "Erstellung dieser Erklärung",
                "Barriere melden (Feedback und Kontakt)",
                "Schlichtungsverfahren",
            ],
        ),
        (
            "/barrierefreiheit",
            "en",
            "Accessibility statement",
            [
                "How accessible this service is",
                "How we test",
                "Report a barrier",
                "Enforcement procedure",
            ],
        ),
        (
            "/datenschutz",
            "de",
            "Datenschutz und Impressum",
            [
                "Inhalt",
                "Verantwortliche Stelle",
                "Ihre Daten für einen Termin",
                "Rückrufe und Warteliste",
                "Unterlagen, die Sie einreichen",
                "Videoberatung",
                "Technische Daten und Schutz vor Bots",
                "Cookies",
                "Wie lange wir Ihre Daten speichern",
                "Ihre Rechte",
                "Impressum",
            ],
        ),
        (
            "/datenschutz",
            "en",
            "Privacy and imprint",
            [
                "Contents",
                "Who is responsible",
                "Your data for an appointment",
                "Callbacks and the waiting list",
                "Documents you hand in",
                "Video consultation",
                "Technical data and protection against bots",
                "Cookies",
                "How long we keep your data",
                "Your rights",
                "Imprint",
            ],
        ),
        (
            "/leichte-sprache",
            "de",
            "Informationen in Leichter Sprache",
            [
                "Was können Sie auf dieser Internet-Seite machen?",
                "So machen Sie einen Termin",
                "So finden Sie sich auf der Seite zurecht",
                "Barriere-Freiheit",
                "Haben Sie eine Frage?",
            ],
        ),
        (
            "/leichte-sprache",
            "en",
            "Information in easy read",
            [
                "What can you do on this website?",
                "How to book an appointment",
                "How to find your way",
                "Accessibility",
                "Do you have a question?",
            ],
        ),
        (
            "/gebaerdensprache",
            "de",
            "Deutsche Gebärdensprache",
            [
                "Was diese Internetseite anbietet",
                "So finden Sie sich auf dieser Internetseite zurecht",
                "Erklärung zur Barrierefreiheit",
            ],
        ),
        (
            "/gebaerdensprache",
            "en",
            "German Sign Language",
            [
                "What this website offers",
                "How to find your way on this website",
                "Accessibility statement",
            ],
        ),
    ],
)
def test_page_renders_with_its_headings(client, path, lang, title, sections):
    response = client.get(path, params={"lang": lang})
    assert response.status_code == 200
    html = response.text
    assert f'<html lang="{lang}"' in html
    assert headings(html, 1) == [title]
    assert headings(html, 2) == sections
    assert f"<title>{title} – Sprechstunde</title>" in html


def test_german_is_the_default(client):
    assert headings(client.get("/datenschutz").text, 1) == ["Datenschutz und Impressum"]


@pytest.fixture
def city(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    custom = settings.model_copy(
        update={
            "operator_name": "Landeshauptstadt Magdeburg, Sozial- und Wohnungsamt",
            "operator_address": "Wilhelm-Höpfner-Ring 4, 39116 Magdeburg",
            "operator_email": "sozialamt@magdeburg.example",
            "operator_representative": "Die Oberbürgermeisterin",
            "data_protection_officer": "Datenschutzbeauftragter, datenschutz@magdeburg.example",
            "data_protection_authority": "Landesbeauftragter für den Datenschutz Sachsen-Anhalt",
            "retention_days": 30,
            "accessibility_contact_email": "barrierefrei@magdeburg.example",
            "accessibility_statement_date": date(2026, 3, 2),
            "accessibility_enforcement_body": "Schlichtungsstelle beim Landesbeauftragten",
            "accessibility_enforcement_contact": "schlichtung@sachsen-anhalt.example",
            "hotline_phone": "+49 391 540-1234",
        }
    )
    app: FastAPI = create_app(custom, clock=clock)
    with TestClient(app) as client:
        yield client
    app.state.container.engine.dispose()


def test_the_accessibility_statement_shows_the_operators_values(city):
    html = city.get("/barrierefreiheit").text
    assert "Landeshauptstadt Magdeburg, Sozial- und Wohnungsamt möchte" in html
    assert 'href="mailto:barrierefrei@magdeburg.example"' in html
    assert 'href="tel:+493915401234"' in html
    assert "am Montag, 2. März 2026 auf Grundlage einer Selbstbewertung" in html
    assert "Schlichtungsstelle beim Landesbeauftragten" in html
    assert "schlichtung@sachsen-anhalt.example" in html


def test_the_accessibility_statement_names_its_known_limitations(client):
    html = client.get("/barrierefreiheit", params={"lang": "en"}).text
    assert "partially compliant with BITV 2.0" in html
    assert "The video room needs JavaScript" in html
    assert "no live captions" in html
    assert "axe-core" in html


def test_the_privacy_notice_shows_the_operator_and_the_retention(city):
    html = city.get("/datenschutz").text
    assert "Wilhelm-Höpfner-Ring 4, 39116 Magdeburg" in html
    assert "Datenschutzbeauftragter, datenschutz@magdeburg.example" in html
    assert "Die Oberbürgermeisterin" in html
    assert "werden 30 Tage nach dem Termin" in html
    assert "Art. 6 Abs. 1 Buchst. e DSGVO" in html
    english = city.get("/datenschutz", params={"lang": "en"}).text
    assert "are erased 30 days after the appointment" in english


def test_one_day_of_retention_is_singular(settings, clock):
    app = create_app(settings.model_copy(update={"retention_days": 1}), clock=clock)
    with TestClient(app) as client:
        html = client.get("/datenschutz", params={"lang": "en"}).text
    app.state.container.engine.dispose()
    assert "are erased 1 day after the appointment" in html


def test_the_privacy_notice_lists_every_cookie_the_service_sets(client):
    html = client.get("/datenschutz").text
    for name in ("lang", "csrf", "booking_link", "staff_session"):
        assert f"<code>{name}</code>" in html.replace("<wbr>", "")


def test_the_pages_keep_to_the_content_security_policy(client):
    for path in ("/barrierefreiheit", "/datenschutz", "/leichte-sprache", "/gebaerdensprache"):
        html = client.get(path).text
        assert " style=" not in html
        assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", html)


# Leichte Sprache (Netzwerk Leichte Sprache): one statement per sentence, short sentences.
LONGEST_SENTENCE_WORDS = 15


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_easy_language_page_has_short_sentences(client, lang):
    html = client.get("/leichte-sprache", params={"lang": lang}).text
    main = re.sub(r"<[^>]+>", " ", html.split("<main", 1)[1].split("</main>", 1)[0])
    sentences = [s for s in re.split(r"[.?!:]\s", main) if s.strip()]
    assert max(len(s.split()) for s in sentences) <= LONGEST_SENTENCE_WORDS


def test_the_easy_language_page_has_pictures_beside_its_statements(client):
    html = client.get("/leichte-sprache").text
    assert html.count('<svg class="pictogram"') >= 8
    assert html.count('aria-hidden="true" focusable="false"') >= 8


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_start_page_and_every_footer_lead_to_the_explanations(client, lang):
    start = client.get("/", params={"lang": lang}).text
    main = start.split("<main", 1)[1].split("</main>", 1)[0]
    assert 'href="/leichte-sprache"' in main
    assert 'href="/gebaerdensprache"' in main
    for path in ("/", "/barrierefreiheit", "/datenschutz"):
        footer = client.get(path, params={"lang": lang}).text.split("<footer", 1)[1]
        assert 'href="/leichte-sprache"' in footer
        assert 'href="/gebaerdensprache"' in footer


def test_the_privacy_notice_names_the_retention_of_documents(settings, clock) -> None:
    # Their own setting, but never longer than the booking's data.
    for days, expected in ((14, "14 days after your appointment"), (200, "90 days after")):
        custom = settings.model_copy(update={"document_retention_days": days})
        with TestClient(create_app(custom, clock=clock)) as client:
            text = client.get("/datenschutz", headers={"Accept-Language": "en"}).text
        assert f"Your documents are erased {expected}" in text
