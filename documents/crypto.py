"""Envelope encryption of documents at rest (AES-256-GCM, `cryptography`).

Every blob has a random 256-bit data key that encrypts its content; the data key is wrapped
(AES-256-GCM as well) by a key-encryption key derived with HKDF-SHA256 from a configured
secret. The blob names the key that wrapped it (its key id), so the secrets can be rotated as
the token keys are: new blobs are wrapped by the current key, blobs of a previous key still
open while that key is configured, and `rewrap` moves a blob to the current key by wrapping
its data key anew, without touching the encrypted content.

A blob, all integers big-endian:

    offset  size  field
    0       4     magic b"SSDB"
    4       1     format version, 1
    5       8     key id: the first 8 bytes of SHA-256 of the key-encryption key
    13      12    nonce of the key wrap
    25      48    the wrapped data key (32 bytes and the 16-byte GCM tag)
    73      12    nonce of the content
    85      n+16  the encrypted content and its GCM tag

Both encryptions bind the blob's id as associated data (the key wrap also the header), so a
blob stored under another id, or with any byte changed, is refused with `DocumentCorrupt`.
Keys never appear in messages, logs or `repr`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"SSDB"
VERSION = 1
HKDF_INFO = b"sprechstunde documents v1"
KEY_ID_BYTES = 8
NONCE_BYTES = 12
DATA_KEY_BYTES = 32
TAG_BYTES = 16
WRAPPED_KEY_BYTES = DATA_KEY_BYTES + TAG_BYTES
HEADER_BYTES = len(MAGIC) + 1 + KEY_ID_BYTES
# Where the fields start.
_WRAP_NONCE = HEADER_BYTES
_WRAPPED_KEY = _WRAP_NONCE + NONCE_BYTES
CONTENT_NONCE = _WRAPPED_KEY + WRAPPED_KEY_BYTES
_CONTENT = CONTENT_NONCE + NONCE_BYTES
OVERHEAD = _CONTENT + TAG_BYTES
# Labels keep the two encryptions' associated data apart.
_WRAP_LABEL = b"sprechstunde document key\x00"
_CONTENT_LABEL = b"sprechstunde document content\x00"


class DocumentError(Exception):
    """Something is wrong with a stored document."""


class DocumentCorrupt(DocumentError):
    """The blob is not one we wrote for this id: changed, truncated, or stored under another id."""


class DocumentKeyUnknown(DocumentError):
    """The blob was wrapped by a key that is no longer (or not yet) configured."""

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"document wrapped by key {key_id}, which is neither the current nor a previous key"
        )
        self.key_id = key_id


def _derive(secret: str) -> tuple[bytes, AESGCM]:
    if not secret:
        raise ValueError("a document key must not be empty")
    kek = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
        secret.encode()
    )
    return hashlib.sha256(kek).digest()[:KEY_ID_BYTES], AESGCM(kek)


def _id_bytes(blob_id: str) -> bytes:
    encoded = blob_id.encode()
    return len(encoded).to_bytes(2, "big") + encoded


class DocumentKeys:
    """Encrypts and decrypts blobs; `current` wraps new data keys, `previous` only unwrap."""

    __slots__ = ("_current", "_keks")

    def __init__(self, current: str, previous: Sequence[str] = ()) -> None:
        if isinstance(previous, str):
            raise TypeError("previous must be a sequence of secrets, not one string")
        self._current, aead = _derive(current)
        self._keks: dict[bytes, AESGCM] = {self._current: aead}
        for secret in previous:
            key_id, aead = _derive(secret)
            self._keks.setdefault(key_id, aead)

    def __repr__(self) -> str:
        previous = [k.hex() for k in self._keks if k != self._current]
        return f"DocumentKeys(current={self._current.hex()}, previous={previous})"

    @property
    def current_key_id(self) -> str:
        return self._current.hex()

    def encrypt(self, blob_id: str, content: bytes) -> bytes:
        data_key = AESGCM.generate_key(bit_length=256)
        content_nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(data_key).encrypt(content_nonce, content, self._content_ad(blob_id))
        return self._wrap(blob_id, data_key) + content_nonce + sealed

    def decrypt(self, blob_id: str, blob: bytes) -> bytes:
        data_key = self._unwrap(blob_id, blob)
        nonce = blob[CONTENT_NONCE:_CONTENT]
        try:
            return AESGCM(data_key).decrypt(nonce, blob[_CONTENT:], self._content_ad(blob_id))
        except InvalidTag:
            raise DocumentCorrupt(f"document {blob_id}: content does not verify") from None

    def rewrap(self, blob_id: str, blob: bytes) -> bytes:
        """The blob with its data key wrapped by the current key; the content stays as it is.

        A blob already under the current key is returned unchanged (after checking its wrap).
        """
        data_key = self._unwrap(blob_id, blob)
        if self.key_id(blob) == self.current_key_id:
            return blob
        return self._wrap(blob_id, data_key) + blob[CONTENT_NONCE:]

    def key_id(self, blob: bytes) -> str:
        """The id of the key that wrapped `blob` (checks the format, not the content)."""
        self._check_format("?", blob)
        return blob[len(MAGIC) + 1 : HEADER_BYTES].hex()

    def needs_rewrap(self, blob: bytes) -> bool:
        return self.key_id(blob) != self.current_key_id

    def _wrap(self, blob_id: str, data_key: bytes) -> bytes:
        header = MAGIC + bytes([VERSION]) + self._current
        nonce = os.urandom(NONCE_BYTES)
        wrapped = self._keks[self._current].encrypt(nonce, data_key, self._wrap_ad(header, blob_id))
        return header + nonce + wrapped

    def _unwrap(self, blob_id: str, blob: bytes) -> bytes:
        self._check_format(blob_id, blob)
        header = blob[:HEADER_BYTES]
        key_id = header[len(MAGIC) + 1 :]
        kek = self._keks.get(key_id)
        if kek is None:
            raise DocumentKeyUnknown(key_id.hex())
        try:
            return kek.decrypt(
                blob[_WRAP_NONCE:_WRAPPED_KEY],
                blob[_WRAPPED_KEY:CONTENT_NONCE],
                self._wrap_ad(header, blob_id),
            )
        except InvalidTag:
            raise DocumentCorrupt(f"document {blob_id}: data key does not verify") from None

    @staticmethod
    def _check_format(blob_id: str, blob: bytes) -> None:
        if len(blob) < OVERHEAD or not blob.startswith(MAGIC):
            raise DocumentCorrupt(f"document {blob_id}: not an encrypted document")
        if blob[len(MAGIC)] != VERSION:
            raise DocumentCorrupt(f"document {blob_id}: unknown format version {blob[len(MAGIC)]}")

    @staticmethod
    def _wrap_ad(header: bytes, blob_id: str) -> bytes:
        return _WRAP_LABEL + header + _id_bytes(blob_id)

    @staticmethod
    def _content_ad(blob_id: str) -> bytes:
        return _CONTENT_LABEL + MAGIC + bytes([VERSION]) + _id_bytes(blob_id)
