"""Where encrypted documents are kept: a directory (one instance) or the database (several).

The raw stores, `DirectoryStore` and `DatabaseStore`, keep opaque bytes under an id; they are
only ever used wrapped in an `EncryptedStore`, which encrypts on `put` and decrypts on `get`
(`documents.crypto`), so neither the disk nor the database ever holds a file in the clear. All
three have the shape of `BlobStore`.

Blob ids are ours (`new_blob_id`), never a user's file name, and every store refuses an id that
does not match `BLOB_ID` exactly, so no id can reach outside the store's directory.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from documents.crypto import DocumentError, DocumentKeys
from documents.models import BLOB_ID_LENGTH, DocumentBlob
from scheduler.db import read_session, write_session

# What `secrets.token_urlsafe(24)` gives: 32 characters of the URL-safe base64 alphabet.
BLOB_ID = re.compile(rf"[A-Za-z0-9_-]{{{BLOB_ID_LENGTH}}}")
_TEMPORARY_SUFFIX = ".tmp"


class InvalidBlobId(DocumentError, ValueError):
    """An id that is not one of ours (`new_blob_id`)."""


class BlobNotFound(DocumentError, KeyError):
    """No blob is stored under the id."""

    def __str__(self) -> str:
        return f"no document stored as {self.args[0]}"


def new_blob_id() -> str:
    return secrets.token_urlsafe(24)


def check_blob_id(blob_id: str) -> str:
    # fullmatch: `$` would let a trailing newline through.
    if not isinstance(blob_id, str) or BLOB_ID.fullmatch(blob_id) is None:
        raise InvalidBlobId("not a document id")  # the id itself may be anything: not echoed
    return blob_id


class BlobStore(Protocol):
    def put(self, blob_id: str, data: bytes) -> None:
        """Store `data` under `blob_id`, replacing what was there."""

    def get(self, blob_id: str) -> bytes:
        """The stored bytes; `BlobNotFound` if there are none."""

    def replace(self, blob_id: str, data: bytes) -> bool:
        """Overwrite an existing blob; False (and nothing written) if it is gone."""

    def delete(self, blob_id: str) -> None:
        """Remove the blob; nothing happens if there is none."""

    def exists(self, blob_id: str) -> bool: ...

    def ids(self) -> list[str]:
        """Every stored id, sorted: the purge's proof that nothing is left."""

    def sweep(self, older_than_seconds: float = 3600) -> int:
        """Remove what killed writers left behind; how many."""


class DirectoryStore:
    """Blobs as files `root/<first two characters>/<id>`, mode 0600, for one instance.

    A write goes to a temporary file in the same directory, is flushed to disk and then
    renamed over the blob (`os.replace`), so a reader sees the old blob or the new one, never
    a part; a failed write removes its temporary file. `delete` and `replace` hold a lock on
    `root/.lock`, so a rewrap cannot bring back a blob that the purge has just deleted.
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def put(self, blob_id: str, data: bytes) -> None:
        path = self._path(blob_id)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        temporary = path.parent / f".{blob_id}.{secrets.token_hex(8)}{_TEMPORARY_SUFFIX}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temporary, flags, 0o600)
        try:
            try:
                os.fchmod(fd, 0o600)  # whatever the umask
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, path)
        except BaseException:
            with suppress(FileNotFoundError):
                temporary.unlink()
            raise
        self._sync(path.parent)

    def get(self, blob_id: str) -> bytes:
        try:
            fd = os.open(self._path(blob_id), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise BlobNotFound(blob_id) from None
        with os.fdopen(fd, "rb") as file:
            return file.read()

    def replace(self, blob_id: str, data: bytes) -> bool:
        with self._locked():
            if not self.exists(blob_id):
                return False
            self.put(blob_id, data)
            return True

    def delete(self, blob_id: str) -> None:
        path = self._path(blob_id)
        with self._locked():
            try:
                path.unlink()
            except FileNotFoundError:
                return
        self._sync(path.parent)

    def exists(self, blob_id: str) -> bool:
        return self._path(blob_id).is_file()

    def ids(self) -> list[str]:
        return sorted(
            path.name
            for shard in self._root.iterdir()
            if shard.is_dir()
            for path in shard.iterdir()
            if BLOB_ID.fullmatch(path.name)
        )

    def sweep(self, older_than_seconds: float = 3600) -> int:
        """Remove temporary files a killed process left behind; they hold ciphertext too."""
        limit = time.time() - older_than_seconds
        removed = 0
        for shard in self._root.iterdir():
            if not shard.is_dir():
                continue
            for path in shard.glob(f".*{_TEMPORARY_SUFFIX}"):
                with suppress(FileNotFoundError):
                    if path.stat().st_mtime < limit:
                        path.unlink()
                        removed += 1
        return removed

    def _path(self, blob_id: str) -> Path:
        check_blob_id(blob_id)
        return self._root / blob_id[:2] / blob_id

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._root / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    @staticmethod
    def _sync(directory: Path) -> None:
        # The rename or unlink itself must survive a power cut.
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class DatabaseStore:
    """Blobs as rows of `document_blobs`, for several instances sharing one database."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def put(self, blob_id: str, data: bytes) -> None:
        check_blob_id(blob_id)
        with write_session(self._sessions) as session:
            row = session.get(DocumentBlob, blob_id)
            if row is None:
                session.add(DocumentBlob(id=blob_id, data=data))
            else:
                row.data = data

    def get(self, blob_id: str) -> bytes:
        check_blob_id(blob_id)
        with read_session(self._sessions) as session:
            data = session.scalar(select(DocumentBlob.data).where(DocumentBlob.id == blob_id))
        if data is None:
            raise BlobNotFound(blob_id)
        return data

    def replace(self, blob_id: str, data: bytes) -> bool:
        check_blob_id(blob_id)
        statement = update(DocumentBlob).where(DocumentBlob.id == blob_id).values(data=data)
        with write_session(self._sessions) as session:
            # On the connection: a Core statement, whose result counts the rows it changed.
            return session.connection().execute(statement).rowcount == 1

    def delete(self, blob_id: str) -> None:
        check_blob_id(blob_id)
        with write_session(self._sessions) as session:
            session.execute(delete(DocumentBlob).where(DocumentBlob.id == blob_id))

    def exists(self, blob_id: str) -> bool:
        check_blob_id(blob_id)
        with read_session(self._sessions) as session:
            found = session.scalar(select(DocumentBlob.id).where(DocumentBlob.id == blob_id))
        return found is not None

    def ids(self) -> list[str]:
        with read_session(self._sessions) as session:
            return list(session.scalars(select(DocumentBlob.id).order_by(DocumentBlob.id)))

    def sweep(self, older_than_seconds: float = 3600) -> int:
        return 0  # a write is one transaction: a killed one leaves nothing


class EncryptedStore:
    """A `BlobStore` that encrypts what it is given and keeps only ciphertext in `raw`."""

    def __init__(self, raw: BlobStore, keys: DocumentKeys) -> None:
        self._raw = raw
        self._keys = keys

    def put(self, blob_id: str, data: bytes) -> None:
        self._raw.put(check_blob_id(blob_id), self._keys.encrypt(blob_id, data))

    def get(self, blob_id: str) -> bytes:
        return self._keys.decrypt(blob_id, self._raw.get(check_blob_id(blob_id)))

    def replace(self, blob_id: str, data: bytes) -> bool:
        return self._raw.replace(check_blob_id(blob_id), self._keys.encrypt(blob_id, data))

    def delete(self, blob_id: str) -> None:
        self._raw.delete(blob_id)

    def exists(self, blob_id: str) -> bool:
        return self._raw.exists(blob_id)

    def ids(self) -> list[str]:
        return self._raw.ids()

    def rewrap(self, blob_id: str) -> bool:
        """Wrap the blob's data key with the current key; True if it was rewritten."""
        try:
            blob = self._raw.get(blob_id)
        except BlobNotFound:
            return False
        if not self._keys.needs_rewrap(blob):
            return False
        return self._raw.replace(blob_id, self._keys.rewrap(blob_id, blob))

    def rewrap_all(self) -> int:
        """Move every blob to the current key (after a rotation, before a previous key is
        dropped); the number rewritten. Blobs deleted meanwhile are skipped."""
        return sum(self.rewrap(blob_id) for blob_id in self.ids())

    def sweep(self, older_than_seconds: float = 3600) -> int:
        return self._raw.sweep(older_than_seconds)
