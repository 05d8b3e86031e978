"""The document stores (documents/storage.py): a directory and the database, both encrypted."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from documents.crypto import DocumentCorrupt, DocumentKeys, DocumentKeyUnknown
from documents.models import DocumentBlob
from documents.storage import (
    BlobNotFound,
    BlobStore,
    DatabaseStore,
    DirectoryStore,
    EncryptedStore,
    InvalidBlobId,
    check_blob_id,
    new_blob_id,
)
from scheduler.db import make_sessionmaker, read_session, write_session

KEY_A = "document-key-a-0123456789abcdef0123456789"
KEY_B = "document-key-b-0123456789abcdef0123456789"
MARKER = b"PLAINTEXT-MARKER-Erika-Mustermann"
FILE = b"%PDF-1.7\n" + MARKER + b"\n" + os.urandom(3000)
BAD_IDS = [
    "",
    "../x",
    "a/b",
    "../" + "a" * 29,
    "a" * 15 + "/" + "a" * 16,
    "a" * 31,
    "a" * 33,
    "a" * 1000,
    "a" * 31 + "\n",
    "a" * 31 + "\x00",
    "a" * 31 + "\x1b",
    "a" * 31 + ".",
    "a" * 31 + "é",
    "a" * 31 + " ",
]


@pytest.fixture
def directory(tmp_path: Path) -> DirectoryStore:
    return DirectoryStore(tmp_path / "documents")


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def database(sessions: sessionmaker[Session]) -> DatabaseStore:
    return DatabaseStore(sessions)


@pytest.fixture(params=["directory", "database"])
def raw(request: pytest.FixtureRequest) -> BlobStore:
    store: BlobStore = request.getfixturevalue(request.param)
    return store


def encrypted(raw: BlobStore, current: str = KEY_A, *previous: str) -> EncryptedStore:
    return EncryptedStore(raw, DocumentKeys(current, previous))


# Both stores, through the interface


def test_ids_are_ours_and_well_formed() -> None:
    ids = {new_blob_id() for _ in range(100)}

    assert len(ids) == 100
    assert all(check_blob_id(blob_id) == blob_id for blob_id in ids)


def test_put_get_exists_delete_ids(raw: BlobStore) -> None:
    store = encrypted(raw)
    one, two = sorted(new_blob_id() for _ in range(2))

    assert store.ids() == []
    assert not store.exists(one)
    store.put(one, FILE)
    store.put(two, b"")

    assert store.get(one) == FILE
    assert store.get(two) == b""
    assert store.exists(one)
    assert store.ids() == [one, two]

    store.delete(one)
    store.delete(one)  # idempotent

    assert not store.exists(one)
    assert store.ids() == [two]
    with pytest.raises(BlobNotFound):
        store.get(one)
    store.delete(two)
    assert store.ids() == raw.ids() == []


def test_put_replaces_and_replace_never_brings_a_blob_back(raw: BlobStore) -> None:
    store = encrypted(raw)
    blob_id = new_blob_id()
    store.put(blob_id, b"first")
    store.put(blob_id, b"second")

    assert store.get(blob_id) == b"second"
    assert store.replace(blob_id, b"third")
    assert store.get(blob_id) == b"third"

    store.delete(blob_id)

    assert not store.replace(blob_id, b"fourth")
    assert not store.exists(blob_id)


@pytest.mark.parametrize("bad", BAD_IDS)
def test_ids_that_are_not_ours_are_refused_by_every_operation(raw: BlobStore, bad: str) -> None:
    store = encrypted(raw)
    operations: list[Callable[[], object]] = [
        lambda: store.put(bad, FILE),
        lambda: store.get(bad),
        lambda: store.replace(bad, FILE),
        lambda: store.delete(bad),
        lambda: store.exists(bad),
        lambda: raw.put(bad, FILE),
        lambda: raw.get(bad),
        lambda: raw.delete(bad),
        lambda: raw.exists(bad),
    ]
    for operation in operations:
        with pytest.raises(InvalidBlobId):
            operation()
    assert raw.ids() == []


def test_only_ciphertext_is_stored(raw: BlobStore) -> None:
    store = encrypted(raw)
    blob_id = new_blob_id()
    store.put(blob_id, FILE)

    stored = raw.get(blob_id)

    assert stored != FILE
    assert MARKER not in stored
    assert FILE[9:100] not in stored


def test_swapped_blobs_are_refused(raw: BlobStore) -> None:
    store = encrypted(raw)
    one, two = new_blob_id(), new_blob_id()
    store.put(one, b"the first citizen's file")
    store.put(two, b"the second citizen's file")
    first, second = raw.get(one), raw.get(two)
    raw.put(one, second)
    raw.put(two, first)

    for blob_id in (one, two):
        with pytest.raises(DocumentCorrupt):
            store.get(blob_id)


def test_a_changed_stored_byte_is_refused(raw: BlobStore) -> None:
    store = encrypted(raw)
    blob_id = new_blob_id()
    store.put(blob_id, FILE)
    stored = bytearray(raw.get(blob_id))
    stored[len(stored) // 2] ^= 0x01
    raw.put(blob_id, bytes(stored))

    with pytest.raises(DocumentCorrupt):
        store.get(blob_id)


def test_rotation_and_rewrap(raw: BlobStore) -> None:
    old_id, new_id = new_blob_id(), new_blob_id()
    encrypted(raw, KEY_A).put(old_id, FILE)
    rotated = encrypted(raw, KEY_B, KEY_A)
    rotated.put(new_id, b"after the rotation")

    assert rotated.get(old_id) == FILE
    with pytest.raises(DocumentKeyUnknown):
        encrypted(raw, KEY_B).get(old_id)

    assert rotated.rewrap_all() == 1
    assert rotated.rewrap_all() == 0
    assert not rotated.rewrap(new_blob_id())  # gone: nothing to do, nothing written

    alone = encrypted(raw, KEY_B)
    assert alone.get(old_id) == FILE
    assert alone.get(new_id) == b"after the rotation"
    assert raw.ids() == sorted([old_id, new_id])


def test_a_blob_of_an_unknown_key_is_a_clear_error(raw: BlobStore) -> None:
    blob_id = new_blob_id()
    encrypted(raw, KEY_A).put(blob_id, FILE)

    with pytest.raises(DocumentKeyUnknown, match="neither the current nor a previous key"):
        encrypted(raw, KEY_B).get(blob_id)
    with pytest.raises(DocumentKeyUnknown):
        encrypted(raw, KEY_B).rewrap_all()


# The directory


def test_the_files_are_sharded_private_and_encrypted(tmp_path: Path) -> None:
    root = tmp_path / "documents"
    store = encrypted(DirectoryStore(root))
    blob_id = new_blob_id()
    old_umask = os.umask(0o022)
    try:
        store.put(blob_id, FILE)
    finally:
        os.umask(old_umask)

    path = root / blob_id[:2] / blob_id
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    content = path.read_bytes()
    assert content != FILE
    assert MARKER not in content
    assert [p for p in root.rglob("*") if p.is_file() and p.name != ".lock"] == [path]


def test_a_failed_replace_leaves_no_partial_blob(
    directory: DirectoryStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = encrypted(directory)
    blob_id = new_blob_id()
    store.put(blob_id, b"the old version")

    def crash(*_: object) -> None:
        raise OSError("crash between write and replace")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="crash"):
        store.put(blob_id, FILE)
    fresh = new_blob_id()
    with pytest.raises(OSError, match="crash"):
        store.put(fresh, FILE)
    monkeypatch.undo()

    root = tmp_path / "documents"
    leftovers = [p.name for p in root.rglob("*") if p.is_file() and p.name != ".lock"]
    assert sorted(leftovers) == [blob_id]
    assert store.get(blob_id) == b"the old version"
    assert not store.exists(fresh)
    assert store.ids() == [blob_id]


def test_a_failed_write_leaves_no_temporary_file(
    directory: DirectoryStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(*_: object) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="no space"):
        encrypted(directory).put(new_blob_id(), FILE)
    monkeypatch.undo()

    assert [p for p in (tmp_path / "documents").rglob("*") if p.is_file()] == []


def test_sweep_removes_only_old_temporary_files(directory: DirectoryStore, tmp_path: Path) -> None:
    blob_id = new_blob_id()
    encrypted(directory).put(blob_id, FILE)
    shard = tmp_path / "documents" / blob_id[:2]
    old, recent = shard / f".{blob_id}.1.tmp", shard / f".{blob_id}.2.tmp"
    old.write_bytes(b"left by a killed process")
    recent.write_bytes(b"a write under way")
    an_hour_ago = time.time() - 7200
    os.utime(old, (an_hour_ago, an_hour_ago))

    assert directory.ids() == [blob_id]
    assert directory.sweep() == 1
    assert not old.exists()
    assert recent.exists()
    assert directory.exists(blob_id)


def test_a_symlinked_blob_is_not_followed(directory: DirectoryStore, tmp_path: Path) -> None:
    blob_id = new_blob_id()
    secret = tmp_path / "elsewhere"
    secret.write_bytes(b"not a document")
    shard = tmp_path / "documents" / blob_id[:2]
    shard.mkdir()
    (shard / blob_id).symlink_to(secret)

    with pytest.raises(OSError, match="symbolic links"):
        directory.get(blob_id)


# The database


def test_the_database_row_holds_only_ciphertext(
    database: DatabaseStore, sessions: sessionmaker[Session]
) -> None:
    store = encrypted(database)
    blob_id = new_blob_id()
    store.put(blob_id, FILE)

    with read_session(sessions) as session:
        row = session.scalars(select(DocumentBlob)).one()

    assert row.id == blob_id
    assert row.data != FILE
    assert MARKER not in row.data
    assert row.created_at.tzinfo is not None


def test_a_row_moved_to_another_id_is_refused(
    database: DatabaseStore, sessions: sessionmaker[Session]
) -> None:
    store = encrypted(database)
    one, other = new_blob_id(), new_blob_id()
    store.put(one, FILE)
    with write_session(sessions) as session:
        row = session.get(DocumentBlob, one)
        assert row is not None
        session.add(DocumentBlob(id=other, data=row.data))
        session.delete(row)

    with pytest.raises(DocumentCorrupt):
        store.get(other)
