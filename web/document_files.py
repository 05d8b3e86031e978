"""What a document's bytes go out with, to staff (web/pages/staff_documents.py,
web/api/staff_documents.py): its media type, headers that keep it out of every cache, and a
download name."""

from __future__ import annotations

from urllib.parse import quote

from documents.desk import DocumentInfo

MEDIA_TYPES = {"pdf": "application/pdf", "jpeg": "image/jpeg", "png": "image/png"}
# Nothing of a document is kept by the browser or a proxy: it is erased on time here.
# (X-Content-Type-Options: nosniff comes with every answer: web/middleware.py.)
PRIVATE = {"Cache-Control": "no-store"}


def download_name(info: DocumentInfo) -> str:
    """Content-Disposition for a download: an ASCII fallback and the name in UTF-8 (RFC 6266,
    RFC 5987). The stored name is already cleaned and never a path."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in info.name
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(info.name)}"
