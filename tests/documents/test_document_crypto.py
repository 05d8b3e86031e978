"""Envelope encryption of documents (documents/crypto.py): round trip, tampering, rotation."""

from __future__ import annotations

import logging

import pytest

from documents import crypto
from documents.crypto import DocumentCorrupt, DocumentError, DocumentKeys, DocumentKeyUnknown

KEY_A = "document-key-a-0123456789abcdef0123456789"
KEY_B = "document-key-b-0123456789abcdef0123456789"
ID_1 = "A" * 32
ID_2 = "B" * 32
MARKER = b"PLAINTEXT-MARKER-Erika-Mustermann"
FILE = b"%PDF-1.7\n" + MARKER + b"\n" + bytes(range(256)) * 40


def test_a_round_trip_gives_the_file_back() -> None:
    keys = DocumentKeys(KEY_A)

    blob = keys.encrypt(ID_1, FILE)

    assert keys.decrypt(ID_1, blob) == FILE
    assert keys.decrypt(ID_1, keys.encrypt(ID_1, b"")) == b""


def test_the_blob_is_not_the_file_and_hides_its_content() -> None:
    blob = DocumentKeys(KEY_A).encrypt(ID_1, FILE)

    assert MARKER not in blob
    assert FILE not in blob
    assert len(blob) == len(FILE) + crypto.OVERHEAD
    assert blob.startswith(crypto.MAGIC + bytes([crypto.VERSION]))


def test_two_encryptions_of_one_file_differ() -> None:
    keys = DocumentKeys(KEY_A)

    first, second = keys.encrypt(ID_1, FILE), keys.encrypt(ID_1, FILE)

    assert first != second
    # Fresh nonces and a fresh data key: no field after the header is shared.
    assert (
        first[crypto.HEADER_BYTES : crypto.OVERHEAD]
        != second[crypto.HEADER_BYTES : crypto.OVERHEAD]
    )
    assert first[crypto.OVERHEAD :] != second[crypto.OVERHEAD :]


FIELDS = {
    "magic": 0,
    "version": 4,
    "key id": 5,
    "wrap nonce": 13,
    "wrapped key": 25,
    "wrapped key tag": 72,
    "content nonce": 73,
    "content": 85,
    "content tag": -1,
}


@pytest.mark.parametrize("offset", FIELDS.values(), ids=FIELDS.keys())
def test_a_changed_byte_anywhere_is_refused(offset: int) -> None:
    keys = DocumentKeys(KEY_A)
    blob = bytearray(keys.encrypt(ID_1, FILE))
    blob[offset] ^= 0x01

    with pytest.raises(DocumentError):
        keys.decrypt(ID_1, bytes(blob))


def test_every_single_byte_of_a_small_blob_is_protected() -> None:
    keys = DocumentKeys(KEY_A)
    blob = keys.encrypt(ID_1, b"tiny")
    for offset in range(len(blob)):
        changed = bytearray(blob)
        changed[offset] ^= 0x80
        with pytest.raises(DocumentError):
            keys.decrypt(ID_1, bytes(changed))


def test_a_changed_content_byte_is_named_corruption() -> None:
    keys = DocumentKeys(KEY_A)
    blob = bytearray(keys.encrypt(ID_1, FILE))
    blob[crypto.OVERHEAD] ^= 0xFF

    with pytest.raises(DocumentCorrupt, match="content does not verify"):
        keys.decrypt(ID_1, bytes(blob))


@pytest.mark.parametrize(
    "blob",
    [b"", b"SSDB", b"not encrypted at all" * 10, b"SSDB\x02" + bytes(200)],
    ids=["empty", "magic only", "plain file", "future version"],
)
def test_what_is_not_one_of_our_blobs_is_refused(blob: bytes) -> None:
    with pytest.raises(DocumentCorrupt):
        DocumentKeys(KEY_A).decrypt(ID_1, blob)


def test_a_truncated_blob_is_refused() -> None:
    keys = DocumentKeys(KEY_A)
    blob = keys.encrypt(ID_1, FILE)

    with pytest.raises(DocumentCorrupt):
        keys.decrypt(ID_1, blob[:-1])
    with pytest.raises(DocumentCorrupt):
        keys.decrypt(ID_1, blob + b"\x00")


def test_a_blob_under_another_id_is_refused() -> None:
    keys = DocumentKeys(KEY_A)
    one, two = keys.encrypt(ID_1, b"first file"), keys.encrypt(ID_2, b"second file")

    with pytest.raises(DocumentCorrupt):
        keys.decrypt(ID_2, one)
    with pytest.raises(DocumentCorrupt):
        keys.decrypt(ID_1, two)


def test_the_content_of_one_blob_cannot_be_put_under_another_ids_key() -> None:
    keys = DocumentKeys(KEY_A)
    one, two = keys.encrypt(ID_1, b"first file"), keys.encrypt(ID_2, b"second file")
    # The second blob's header and data key, the first one's content.
    spliced = two[: crypto.CONTENT_NONCE] + one[crypto.CONTENT_NONCE :]

    with pytest.raises(DocumentCorrupt):
        keys.decrypt(ID_2, spliced)


def test_a_blob_of_a_previous_key_still_opens_after_a_rotation() -> None:
    old = DocumentKeys(KEY_A).encrypt(ID_1, FILE)
    rotated = DocumentKeys(KEY_B, previous=[KEY_A])

    assert rotated.decrypt(ID_1, old) == FILE
    assert rotated.needs_rewrap(old)
    # New blobs are wrapped by the current key alone.
    assert DocumentKeys(KEY_B).decrypt(ID_2, rotated.encrypt(ID_2, FILE)) == FILE


def test_rewrap_moves_a_blob_to_the_current_key_without_touching_the_content() -> None:
    old = DocumentKeys(KEY_A).encrypt(ID_1, FILE)
    rotated = DocumentKeys(KEY_B, previous=[KEY_A])

    new = rotated.rewrap(ID_1, old)

    assert new[crypto.CONTENT_NONCE :] == old[crypto.CONTENT_NONCE :]
    assert rotated.key_id(new) == rotated.current_key_id != rotated.key_id(old)
    assert not rotated.needs_rewrap(new)
    assert DocumentKeys(KEY_B).decrypt(ID_1, new) == FILE
    with pytest.raises(DocumentKeyUnknown):
        DocumentKeys(KEY_A).decrypt(ID_1, new)


def test_rewrap_of_a_current_blob_changes_nothing() -> None:
    keys = DocumentKeys(KEY_B, previous=[KEY_A])
    blob = keys.encrypt(ID_1, FILE)

    assert keys.rewrap(ID_1, blob) == blob


def test_rewrap_refuses_a_tampered_or_foreign_blob() -> None:
    keys = DocumentKeys(KEY_B, previous=[KEY_A])
    blob = bytearray(DocumentKeys(KEY_A).encrypt(ID_1, FILE))
    blob[crypto.HEADER_BYTES + 20] ^= 1

    with pytest.raises(DocumentCorrupt):
        keys.rewrap(ID_1, bytes(blob))
    with pytest.raises(DocumentCorrupt):
        keys.rewrap(ID_2, DocumentKeys(KEY_A).encrypt(ID_1, FILE))


def test_a_blob_of_an_unknown_key_is_a_clear_error() -> None:
    blob = DocumentKeys(KEY_A).encrypt(ID_1, FILE)
    keys = DocumentKeys(KEY_B)

    with pytest.raises(DocumentKeyUnknown) as raised:
        keys.decrypt(ID_1, blob)

    assert raised.value.key_id == DocumentKeys(KEY_A).current_key_id
    assert "neither the current nor a previous key" in str(raised.value)


def test_the_key_id_names_the_derived_key_not_the_secret() -> None:
    keys = DocumentKeys(KEY_A)

    assert len(keys.current_key_id) == 16
    assert keys.current_key_id == DocumentKeys(KEY_A).current_key_id
    assert keys.current_key_id != DocumentKeys(KEY_B).current_key_id


def test_keys_never_show_in_repr_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    keys = DocumentKeys(KEY_B, previous=[KEY_A])
    blob = DocumentKeys("another-key-0123456789abcdef0123456789").encrypt(ID_1, FILE)

    with pytest.raises(DocumentKeyUnknown) as raised:
        keys.decrypt(ID_1, blob)

    for text in (repr(keys), str(raised.value), caplog.text):
        assert KEY_A not in text
        assert KEY_B not in text
    assert keys.current_key_id in repr(keys)


def test_an_empty_or_misgiven_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        DocumentKeys("")
    with pytest.raises(ValueError, match="empty"):
        DocumentKeys(KEY_A, previous=[""])
    with pytest.raises(TypeError):
        DocumentKeys(KEY_A, previous=KEY_B)
