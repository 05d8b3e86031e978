"""The documents section of the appointment page (`/termin#unterlagen`), through the app as a
browser without JavaScript uses it: multipart uploads, the scan by a real clamd (the state in
plain words), refusals answered with the page, a 4xx status and an error summary (nothing
stored), deletes until the appointment begins, the named documents still missing; and the
JSON answers and the fragment the page's script uses."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from documents.models import BookingDocument
from documents.requirements import NamedEntry, Requirements
from tests.documents.clamd import EICAR, Clamd
from tests.documents.conftest import clamd  # noqa: F401 - the fixture, for this module
from tests.documents.test_document_desk import make_pdf, make_png
from tests.web.pages.test_citizen_flow import TUESDAY, Page, at, make_service, open_page, read
from tests.web.pages.test_manage_pages import api_booking


@pytest.fixture
def settings(settings, clamd: Clamd):  # noqa: F811 - the shared settings, with our clamd
    return settings.model_copy(update={"clamav_url": clamd.url})


@pytest.fixture
def service(world):
    return make_service(world)


@pytest.fixture
def named(container, service):
    return Requirements(container.sessions).replace(
        service.id,
        [NamedEntry("Letzter Bescheid", "Last notice"), NamedEntry("Mietvertrag", "Lease")],
    )


@pytest.fixture
def linked(client, service, named):
    token = api_booking(client, service)["manage_url"].rsplit("/", 1)[1]
    client.get(f"/b/{token}")
    return client


def section(page: Page) -> str:
    """The words of the documents section."""
    text = page.text
    start = text.index("Ihre Unterlagen") if "Ihre Unterlagen" in text else text.index("Your doc")
    return text[start:]


def upload(client, *, data=b"", name="bescheid.pdf", field="file", **form: str):
    page = open_page(client, "/termin")
    files = {field: (name, data or make_pdf(), "application/pdf")} if data is not None else {}
    return client.post(
        "/termin/unterlagen",
        data={"csrf_token": page.inputs["csrf_token"], **form},
        files=files,
        follow_redirects=False,
    )


def stored(container) -> int:
    with container.sessions() as session:
        return session.scalar(select(func.count()).select_from(BookingDocument)) or 0


def test_the_section_offers_the_upload_form_and_lists_what_is_missing(linked, named):
    page = open_page(linked, "/termin")

    assert page.status == 200
    words = section(page)
    assert "Sie haben noch keine Unterlagen eingereicht." in words
    assert (
        "Für dieses Anliegen brauchen wir meist diese Unterlagen: Letzter Bescheid Mietvertrag"
        in (words)
    )
    form = page.attributes["documents-upload"]
    assert form["method"] == "post"
    assert form["action"] == "/termin/unterlagen"
    assert form["enctype"] == "multipart/form-data"
    assert ".pdf" in page.attributes["documents-file"]["accept"]
    assert "image/heic" in page.attributes["documents-file"]["accept"]
    assert page.attributes["documents-photo"]["capture"] == "environment"
    assert page.attributes["documents-photo"]["accept"] == "image/*"
    assert 'for="documents-photo"' in page.html
    assert f'<option value="{named[0].id}">Letzter Bescheid</option>' in page.html
    assert "js/documents-upload.js" in page.html
    assert "css/documents.css" in page.html


def test_the_section_is_in_english_too(linked):
    page = read(linked.get("/termin?lang=en"))

    words = section(page)
    assert "You have not handed in any documents yet." in words
    assert "Last notice Lease" in words
    assert "Or take a photo with the camera of your phone" in words


def test_a_pdf_handed_in_is_checked_and_then_ready(linked, container, named):
    answer = upload(linked, requirement=str(named[0].id))

    assert answer.status_code == 303
    assert answer.headers["location"] == "/termin?unterlagen=abgegeben#unterlagen"
    page = open_page(linked, "/termin?unterlagen=abgegeben")
    words = section(page)
    assert "Danke, Ihr Dokument ist eingereicht. Es wird jetzt auf Viren geprüft." in words
    # Labelled with the named document it is; only the other one is still missing.
    assert "Letzter Bescheid bescheid.pdf" in words
    assert "Wird auf Viren geprüft." in words
    assert "diese Unterlagen: Mietvertrag" in words
    assert f'<option value="{named[0].id}">' not in page.html
    assert page.attributes["documents-state"]["data-checking"] == "yes"

    assert container.documents.scan_pending().clean == 1

    words = section(open_page(linked, "/termin"))
    assert "Geprüft, bereit." in words
    assert "Wird auf Viren geprüft." not in words


def test_a_typed_label_and_a_camera_photo(linked, container):
    answer = upload(linked, data=make_png(), name="IMG_0001.png", field="photo", label="Mein Brief")

    assert answer.status_code == 303
    [document] = _documents(container)
    assert document.label == "Mein Brief"
    words = section(open_page(linked, "/termin"))
    assert "Mein Brief IMG_0001.png" in words
    # No named document was chosen: both are still missing.
    assert "diese Unterlagen: Letzter Bescheid Mietvertrag" in words


def _documents(container):
    with container.sessions() as session:
        ids = session.scalars(select(BookingDocument.booking_id).distinct()).all()
    return [d for booking_id in ids for d in container.documents.documents(booking_id)]


def test_an_infected_file_is_refused_in_plain_words(linked, container, named):
    assert upload(linked, data=make_pdf(extra=EICAR), requirement=str(named[1].id)).status_code == (
        303
    )

    container.documents.scan_pending()

    words = section(open_page(linked, "/termin"))
    assert "Abgelehnt: Es enthielt Schadsoftware und wurde gelöscht." in words
    assert "Eicar" not in words  # what clamd found is for staff only
    # A refused document does not count as handed in.
    assert "diese Unterlagen: Letzter Bescheid Mietvertrag" in words


@pytest.mark.parametrize(
    ("form", "status", "words"),
    [
        ({"data": b"MZ\x90\x00 not a document", "name": "bescheid.pdf"}, 415, "kein PDF, JPEG"),
        ({"data": None}, 422, "Bitte wählen Sie eine Datei aus oder machen Sie ein Foto."),
        ({"requirement": "999999"}, 422, "für diesen Termin nicht erbeten"),
        ({"requirement": "Mietvertrag"}, 422, "für diesen Termin nicht erbeten"),
        ({"label": "x" * 101}, 422, "höchstens 100 Zeichen"),
    ],
)
def test_a_refused_upload_comes_back_with_the_problem_and_stores_nothing(
    linked, container, form, status, words
):
    answer = upload(linked, **form)

    page = read(answer)
    assert answer.status_code == status
    assert page.html.count('class="error-summary"') == 1
    assert "Das hat nicht geklappt" in page.text
    assert words in page.text
    assert page.text.startswith("Fehler:")
    assert stored(container) == 0
    # What was typed is kept.
    if "label" in form:
        assert page.inputs["label"] == form["label"]


def test_an_upload_without_the_csrf_token_is_refused(linked, container):
    answer = linked.post(
        "/termin/unterlagen",
        files={"file": ("a.pdf", make_pdf(), "application/pdf")},
        follow_redirects=False,
    )

    assert answer.status_code == 403
    assert stored(container) == 0


def test_an_upload_without_the_link_gets_the_page_that_says_what_to_do(client, container):
    answer = client.post("/termin/unterlagen", files={"file": ("a.pdf", make_pdf(), "x/y")})

    assert answer.status_code in (401, 403)
    assert stored(container) == 0


def test_a_document_is_deleted_until_the_appointment_begins(linked, container, named):
    upload(linked, requirement=str(named[0].id))
    [document] = _documents(container)
    page = open_page(linked, "/termin")
    assert "Endgültig löschen" in page.text
    delete_form = f'action="/termin/unterlagen/{document.id}/loeschen"'
    assert delete_form in page.html
    assert 'aria-label="Letzter Bescheid löschen"' in page.html

    answer = linked.post(
        f"/termin/unterlagen/{document.id}/loeschen",
        data={"csrf_token": page.inputs["csrf_token"]},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert answer.headers["location"] == "/termin?unterlagen=geloescht#unterlagen"
    words = section(open_page(linked, "/termin?unterlagen=geloescht"))
    assert "Das Dokument wurde gelöscht." in words
    assert "Sie haben noch keine Unterlagen eingereicht." in words
    assert "diese Unterlagen: Letzter Bescheid Mietvertrag" in words
    assert stored(container) == 0


def test_after_the_start_a_delete_is_refused_and_uploads_still_go_in(linked, container, clock):
    upload(linked)
    [document] = _documents(container)
    csrf = open_page(linked, "/termin").inputs["csrf_token"]
    clock.now = at(TUESDAY, 9, 5)

    page = open_page(linked, "/termin")
    assert f"/termin/unterlagen/{document.id}/loeschen" not in page.html
    assert "Der Termin hat begonnen: Unterlagen können nicht mehr gelöscht werden." in page.text
    answer = linked.post(
        f"/termin/unterlagen/{document.id}/loeschen",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )

    assert answer.status_code == 409
    refused = read(answer)
    assert "Das hat nicht geklappt" in refused.text
    assert "hat bereits begonnen" in refused.text
    assert stored(container) == 1
    # During the appointment a missing paper can still be handed in.
    assert upload(linked).status_code == 303
    assert stored(container) == 2


def test_after_the_end_the_form_is_gone_and_uploads_are_refused(linked, container, clock):
    csrf = open_page(linked, "/termin").inputs["csrf_token"]
    clock.now = at(TUESDAY, 9, 31)

    page = open_page(linked, "/termin")
    assert "documents-upload" not in page.attributes
    assert "Der Termin ist vorbei: Unterlagen können hier nicht mehr eingereicht werden." in (
        page.text
    )
    answer = linked.post(
        "/termin/unterlagen",
        data={"csrf_token": csrf},
        files={"file": ("a.pdf", make_pdf(), "application/pdf")},
        follow_redirects=False,
    )
    assert answer.status_code == 409
    assert stored(container) == 0


def test_a_cancelled_appointment_has_no_documents_section(linked):
    page = open_page(linked, "/termin/absagen")
    linked.post("/termin/absagen", data={"csrf_token": page.inputs["csrf_token"]})

    page = open_page(linked, "/termin")

    assert "Ihre Unterlagen" not in page.text
    assert "documents-upload.js" not in page.html


def test_the_script_gets_json_answers_and_the_fragment(linked, container, named):
    csrf = open_page(linked, "/termin").inputs["csrf_token"]
    headers = {"accept": "application/json"}

    sent = linked.post(
        "/termin/unterlagen",
        data={"csrf_token": csrf, "requirement": str(named[1].id)},
        files={"file": ("lease.pdf", make_pdf(), "application/pdf")},
        headers=headers,
    )
    refused = linked.post(
        "/termin/unterlagen",
        data={"csrf_token": csrf},
        files={"file": ("x.pdf", b"not a pdf at all", "application/pdf")},
        headers=headers,
    )

    assert sent.status_code == 201
    assert sent.json() == {"handed_in": 1}
    assert refused.status_code == 415
    assert refused.json()["field"] == "documents-file"
    assert "kein PDF" in refused.json()["message"]
    fragment = read(linked.get("/termin/unterlagen/abschnitt"))
    assert fragment.status == 200
    assert fragment.attributes["documents-state"]["data-checking"] == "yes"
    assert "Mietvertrag lease.pdf" in fragment.text
    assert "<html" not in fragment.html
    container.documents.scan_pending()
    fragment = read(linked.get("/termin/unterlagen/abschnitt"))
    assert fragment.attributes["documents-state"]["data-checking"] == "no"
    assert "Geprüft, bereit." in fragment.text
