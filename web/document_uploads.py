"""What the document endpoints and pages share: reading an upload within the limit and handing
it in, which wakes the scan worker at once (docs/documents.md)."""

from __future__ import annotations

from fastapi import UploadFile

from documents.checks import Refused
from documents.desk import DocumentInfo
from web.container import Container

# Room for the multipart framing and the label beside the file itself.
MULTIPART_OVERHEAD = 64 * 1024
# The paths that take documents, for the body size limit (web/app.py).
UPLOAD_PATHS = ("/api/v1/booking/documents", "/termin/unterlagen", "/raum/unterlagen")


def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The file's bytes; `Refused("too_large_file")` beyond `limit`, without reading more.
    Call it from a handler that runs in a thread: the spooled file is read synchronously."""
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise Refused("too_large_file")
    return data


def hand_in(
    container: Container,
    booking_id: int,
    upload: UploadFile,
    label: str = "",
    requirement_id: int | None = None,
) -> DocumentInfo:
    desk = container.documents
    data = read_upload(upload, desk.limits.max_file_bytes)
    info = desk.hand_in(booking_id, data, upload.filename or "", label, requirement_id)
    container.scan_worker.wake()
    return info
