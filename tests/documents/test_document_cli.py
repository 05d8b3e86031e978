"""`sprechstunde rewrap-documents`, the last step of a document key rotation: a real process
moves every stored document to the current key, after which the old key can go."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from documents.crypto import DocumentKeys
from documents.storage import DirectoryStore, EncryptedStore
from scheduler.db import read_session
from scheduler.models import Booking
from tests import office_clock
from tests.conftest import Clock, World
from tests.documents.test_document_desk import make_pdf
from tests.web.test_cli import run
from tests.web.test_cli_purge import book_first_slot
from web.container import Container
from web.settings import Settings

pytestmark = pytest.mark.office_clock  # the booking is made on the office clock

OLD = "old-secret-key-for-the-documents-0123456789"
NEW = "new-secret-key-for-the-documents-9876543210"


def test_rewrap_moves_every_document_to_the_current_key(tmp_path: Path) -> None:
    database = tmp_path / "sprechstunde.db"
    folder = tmp_path / "documents"
    assert run(database, "migrate").returncode == 0
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        env="test",
        database_url=f"sqlite:///{database}",
        secret_key=OLD,
        document_dir=folder,
    )
    container = Container.build(settings, clock=Clock(office_clock.office_now()))
    try:
        world = World(container)
        service = world.service(name="Wohngeld")
        world.advisor([service])
        reference = book_first_slot(container, service.id, "erika@example.org")
        with read_session(container.sessions) as session:
            booking_id = session.scalar(select(Booking.id).where(Booking.reference == reference))
        upload = make_pdf()
        container.documents.hand_in(booking_id, upload, "Bescheid.pdf")
        container.documents.hand_in(booking_id, upload, "Kopie.pdf")
    finally:
        container.engine.dispose()
    rotated = {"secret_key": NEW, "previous_secret_keys": OLD, "document_dir": str(folder)}

    first = run(database, "rewrap-documents", **rotated)
    second = run(database, "rewrap-documents", **rotated)

    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"rewrapped": 2}
    assert json.loads(second.stdout) == {"rewrapped": 0}
    only_new = EncryptedStore(DirectoryStore(folder), DocumentKeys(NEW))
    assert [only_new.get(blob_id)[:5] for blob_id in only_new.ids()] == [b"%PDF-", b"%PDF-"]
