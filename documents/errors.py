"""What the document desk refuses (documents/desk.py), in the booking engine's error family
(`scheduler.errors`), so that the web layer words and maps them as it does every other error:

    NotFound
    ├── DocumentNotFound       no such document for this booking (or it was deleted)
    └── DocumentNotAvailable   not clean (yet): pending, or rejected; `params["status"]`
    InvalidRequest
    ├── LabelTooLong           a label beyond 100 characters
    └── RequirementUnknown     not one of the documents the booking's service names
    Conflict
    ├── BookingNotConfirmed    a hold: documents come with a confirmed booking only
    ├── TooManyFiles           the booking has `max_files` documents already
    └── QuotaExceeded          the documents of the booking would exceed `max_total_bytes`

The booking's own state uses the engine's errors: `NotFound` (unknown booking),
`BookingCancelled`, `BookingInPast` (the appointment has begun: no more hand-ins, no deletes).
What a file is refused for (`documents.checks.Refused`, including `too_large_file`) is not
wrapped: it passes through with its code.
"""

from __future__ import annotations

from scheduler.errors import Conflict, InvalidRequest, NotFound


class DocumentNotFound(NotFound):
    code = "document_not_found"


class DocumentNotAvailable(NotFound):
    code = "document_not_available"


class LabelTooLong(InvalidRequest):
    code = "document_label_too_long"


class RequirementUnknown(InvalidRequest):
    code = "document_requirement_unknown"


class BookingNotConfirmed(Conflict):
    code = "booking_not_confirmed"


class TooManyFiles(Conflict):
    code = "too_many_files"


class QuotaExceeded(Conflict):
    code = "quota_exceeded"
