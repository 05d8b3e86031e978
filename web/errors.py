"""The one place where domain errors become HTTP answers, with messages from the catalogue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, DBAPIError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from documents.checks import MESSAGES as REFUSALS
from documents.checks import Refused
from scheduler import errors
from web.deps import catalogues, container, has_pages, pages
from web.protection import RateLimited

STATUS = [
    (errors.NotFound, 404),
    (errors.InvalidRequest, 422),
    (errors.Conflict, 409),
    (errors.Busy, 503),
    (errors.TokenError, 401),
    (errors.AuthenticationFailed, 401),
    (errors.LoginThrottled, 429),
    (RateLimited, 429),
    (errors.PermissionDenied, 403),
]

# English source texts (msgids); the German ones are in locale/de/LC_MESSAGES/messages.po.
MESSAGES = {
    "not_found": "Not found.",
    "invalid_request": "The request is invalid.",
    "off_grid": "This time is not one of the appointment times of this service.",
    "outside_booking_window": (
        "This time cannot be booked: it is in the past, too soon or too far ahead."
    ),
    "closed_day": "The office is closed on that day.",
    "channel_not_offered": "This service is not offered through that channel.",
    "phone_required": "An appointment by phone needs the phone number to call.",
    "email_required": (
        "A video appointment needs an e-mail address: the e-mail with the link to the video "
        "room goes there."
    ),
    "notes_too_long": "The note is too long: at most {maximum} characters.",
    "wheelchair_access_in_person_only": (
        "Wheelchair access can only be arranged for an appointment in person."
    ),
    "idempotency_key_reused": ("This Idempotency-Key was already used with a different request."),
    "callback_windows_invalid": (
        "Please give one to {maximum} preferred times within the next 14 days, each ending "
        "after it starts and at most 12 hours long."
    ),
    "callback_claimed": "{claimed_by} is already handling this callback request.",
    "too_many_open_callbacks": (
        "There are already {maximum} open callback requests for this service with this phone "
        "number or e-mail address."
    ),
    "callback_finished": (
        "This callback request has already been dealt with and can no longer be changed."
    ),
    "conflict": "The request conflicts with the current state.",
    "slot_unavailable": "This appointment time is no longer available. Please choose another one.",
    "booking_cancelled": "This appointment has been cancelled and cannot be changed.",
    "booking_in_past": "This appointment has already begun and can no longer be changed.",
    "too_many_open_bookings": (
        "There are already {maximum} open appointments for this service with this e-mail address."
    ),
    "booking_not_started": "This appointment has not begun yet.",
    "busy": "The system is busy. Please try again in a moment.",
    "already_waiting": (
        "You are already on the waiting list for this service with this e-mail address."
    ),
    "offer_unavailable": (
        "This offer is no longer available: it has expired, was declined or has been taken back."
    ),
    "invalid_offer": (
        "The connection offer is not valid: it must be a WebRTC offer (SDP) with at least one "
        "audio or video track."
    ),
    "connection_tests_busy": "All connection tests are in use. Please try again in a minute.",
    "room_not_open": "The video room opens on {opens_at_date} at {opens_at_time}.",
    "room_closed": "The video room is closed.",
    "room_full": "The video room is full.",
    "no_video_room": "This appointment has no video room.",
    "label_too_long": "The label of the invitation is too long.",
    "document_not_found": "This document was not found.",
    "document_not_available": (
        "This document cannot be opened: it is still being checked, or it was refused."
    ),
    "document_label_too_long": (
        "The label of the document is too long: at most {maximum} characters."
    ),
    "booking_not_confirmed": "Documents can only be handed in for a confirmed appointment.",
    "person_unspecified": (
        "Please give the person's e-mail address or phone number (at least {minimum} digits)."
    ),
    "records_changed": (
        "The person's records have changed since you checked them. Please check them again."
    ),
    "person_busy": (
        "Something is still under way for this person: an appointment to come or a callback "
        "request. Cancel or settle it first."
    ),
    "booking_not_over": (
        "Your data can be erased once the appointment is over or cancelled. To erase it now, "
        "cancel the appointment first."
    ),
    "document_requirement_unknown": "This is not one of the documents asked for.",
    # A citizen corrects their data through the magic link (scheduler/contact_change.py).
    "contact_invalid": "Please check your name, phone number and e-mail address.",
    "contact_name_invalid": "Please enter your name, with at most {maximum} characters.",
    "contact_phone_invalid": "Please enter a phone number with digits only, e.g. 0391 123456.",
    "contact_email_required": "Please enter the e-mail address for your appointment.",
    "contact_email_invalid": "Please enter an e-mail address such as name@example.org.",
    "email_change_stale": (
        "This link no longer applies: the e-mail address of the appointment has changed since "
        "it was sent."
    ),
    "document_name_missing": "Please enter the German name of the document.",
    "document_names_duplicate": "This document is in the list twice.",
    "too_many_named_documents": "A service can ask for at most {maximum} documents.",
    "too_many_files": "At most {maximum} documents can be handed in for one appointment.",
    "quota_exceeded": (
        "The documents of this appointment would take up too much space. Please delete one or "
        "hand in smaller files."
    ),
    "token_invalid": (
        "This link is not valid. Please use the link from your latest e-mail or call the hotline."
    ),
    "token_expired": "This link has expired. Please call the hotline.",
    "token_revoked": "This link is no longer valid. A newer link may have been sent to you.",
    "authentication_failed": "The e-mail address or the password is wrong.",
    "authentication_required": "Please log in.",
    "login_throttled": "Too many failed logins. Please wait a few minutes and try again.",
    "second_factor_required": "Please enter the code from your authenticator app.",
    "second_factor_enrolment_required": (
        "Your role logs in with a second factor. Please set it up on the login page."
    ),
    "second_factor_invalid": "The code is wrong or has been used already.",
    "second_factor_enrolled": "A second factor is already set up.",
    "login_challenge_expired": "The login took too long. Please log in again.",
    "current_password_wrong": "The current password is wrong.",
    "reset_link_invalid": "This link has been used or has expired.",
    "permission_denied": "You are not allowed to do this.",
    "range_reversed": "The end lies before the start.",
    "range_too_long": "The date range is too long: at most {maximum} days.",
    "naive_time": "Times need a UTC offset, for example 2026-03-02T09:00:00+01:00.",
    "email_taken": "This e-mail address is already in use.",
    "name_taken": "This name is already in use.",
    "closure_exists": "The office is already closed on that day.",
    "team_has_services": "The team still has active services: {services}.",
    "last_admin": "At least one active administrator must remain.",
    "team_inactive": "The service's team is deactivated. Please activate the team first.",
    "not_yourself": "You cannot deactivate your own account.",
    "affected_changed": (
        "The appointments hit by this change are no longer those you checked. Please check again."
    ),
    "hours_overlap": "Opening hours of one day must not overlap.",
    "password_too_short": "The password must be at least {minimum} characters long.",
    "password_too_weak": (
        "This password is too easy to guess (a common password, a repetition or a sequence). "
        "Use a phrase of three or four uncommon words."
    ),
    "validation_error": "Some fields are missing or invalid.",
    "malformed_json": "The request body is not valid JSON.",
    "body_too_large": "The request body is too large.",
    "unknown_path": "There is nothing at this address.",
    "method_not_allowed": "This method is not allowed here.",
    "server_error": "Something went wrong on our side. Nothing was changed.",
    "csrf_failed": "This form has expired. Please reload the page and try again.",
    "rate_limited": "Too many requests from your connection. Please wait a moment and try again.",
    "altcha_invalid": (
        "The automatic check against bots did not succeed. Please send the form once more."
    ),
    "proof_required": (
        "The connection test needs the link from your appointment e-mail or the automatic check "
        "against bots. Please reload the page and try again."
    ),
    # Staff import, appointment export and audit viewer (docs/administration.md).
    "import_not_utf8": "The file is not in UTF-8. Save it as “CSV UTF-8” and try again.",
    "import_not_csv": "The file could not be read as CSV.",
    "import_wrong_header": "The header line does not have the expected columns.",
    "import_too_many_lines": "The file has more than 500 lines; split it into several files.",
    "import_no_lines": "The file has no lines below the header.",
    "import_wrong_column_count": "This line does not have as many columns as the header.",
    "import_bad_email": "This is not a valid e-mail address.",
    "import_duplicate_email": "This e-mail address appears more than once in the file.",
    "import_email_taken": "A staff account with this e-mail address exists already.",
    "import_missing_name": "The name is missing, longer than 200 characters or not plain text.",
    "import_bad_role": "The role must be advisor, hotline or admin.",
    "import_unknown_service": "There is no service of this name or number.",
    "import_bad_time": "This is not a list of time ranges such as 08:00-12:00 13:00-16:00.",
    "import_hours_overlap": "These hours overlap.",
    "import_refused": "The file has problems: nothing was imported.",
    "import_no_file": "Please choose a CSV file.",
    "import_file_too_large": "The file is larger than 1 MiB.",
    "export_range_too_long": "Please choose at most {days} days.",
    "metrics_not_allowed": "The metrics are only for the monitoring of this installation.",
    "audit_export_too_large": (
        "More than {limit} entries match: please narrow the filter before exporting."
    ),
    # What the content checks of a document refuse (documents/checks.py).
    **REFUSALS,
}
# A refused document: too large and not a type we take have statuses of their own.
REFUSAL_STATUS = {"too_large_file": 413, "unknown_type": 415}

# Everything else is a page, whose errors are pages too.
_NOT_PAGES = (
    "/api/",
    "/ws/",
    "/openapi.json",
    "/healthz",
    "/readyz",
    "/metrics",
    "/static/",
    "/dev/mail",
)


def message(request: Request, code: str, **params: object) -> str:
    texts = catalogues(request)
    language = getattr(request.state, "language", None) or texts.negotiate(
        request.headers.get("accept-language")
    )
    text = texts.gettext(language, MESSAGES.get(code, MESSAGES["invalid_request"]))
    try:
        return text.format(**params)
    except (KeyError, IndexError):
        return text


def problem(
    request: Request, status: int, code: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    params = extra.pop("params", {})
    detail = message(request, code, **params)
    if is_page(request):
        page = pages(request).error(request, status, code, detail)
        page.headers.update(headers or {})  # Retry-After, Allow: for a browser as for a client
        return page
    body = {"code": code, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, headers=headers)


def is_page(request: Request) -> bool:
    path = request.url.path
    return has_pages(request) and not (
        path.startswith(_NOT_PAGES) or path.startswith("/feeds/") or path == "/docs"
    )


def status_of(exc: errors.SchedulerError) -> int:
    return next(status for kind, status in STATUS if isinstance(exc, kind))


def local_times(
    request: Request, params: dict[str, object]
) -> tuple[dict[str, object], dict[str, str]]:
    """Times of an error in the office's zone: `<name>_date` and `<name>_time` for the message,
    and `<name>` in ISO 8601 with its offset for the body (a page shows or counts down to it)."""
    tz = container(request).scheduler.tz
    texts = dict(params)
    body: dict[str, str] = {}
    for name, value in params.items():
        if isinstance(value, datetime):
            moment = value.astimezone(tz)
            texts |= {f"{name}_date": f"{moment:%d.%m.%Y}", f"{name}_time": f"{moment:%H:%M}"}
            body[name] = moment.isoformat()
    return texts, body


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.SchedulerError)
    status = status_of(exc) if any(isinstance(exc, k) for k, _ in STATUS) else 400
    params, times = local_times(request, exc.params)
    extra: dict[str, Any] = {"params": params, **times}
    if "field" in exc.params:
        extra["field"] = exc.params["field"]
    if isinstance(exc, errors.CallbackClaimed):  # who has it, for the agent who lost the race
        extra["claimed_by"] = {"id": exc.params["claimed_by_id"], "name": exc.params["claimed_by"]}
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, errors.LoginThrottled):
        headers["Retry-After"] = str(exc.params.get("retry_after", 900))
    elif "retry_after" in exc.params:
        headers["Retry-After"] = str(exc.params["retry_after"])
    return problem(request, status, exc.code, headers=headers, **extra)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    status = REFUSAL_STATUS.get(exc.code, 422)
    return problem(request, status, exc.code, field="file")


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        return problem(request, 400, "malformed_json")
    fields = [
        {
            "field": ".".join(str(part) for part in p.get("loc", ()) if part != "body"),
            "message": p.get("msg", ""),
            "type": p.get("type", ""),
        }
        for p in problems
    ]
    return problem(request, 422, "validation_error", errors=fields)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {
        404: "unknown_path",
        405: "method_not_allowed",
        413: "body_too_large",
        401: "authentication_required",
    }.get(exc.status_code, "invalid_request")
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": allowed_methods(request)}
    return problem(request, exc.status_code, code, headers=headers)


def allowed_methods(request: Request) -> str:
    """Every method some route at this path answers: the router stops at the first route whose
    path matches, so its own Allow names only that route's methods."""
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    ]
    return ", ".join(allowed)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


async def _database(request: Request, exc: Exception) -> Response:
    """Values the database or the date arithmetic cannot hold (NUL in text on PostgreSQL, an id
    beyond its integer column, a time beyond the year 9999) are bad input, not a server error;
    the transaction was rolled back. A connection the database dropped under the request (a
    restart, a failover) is 503: the pool has renewed its connections, and the request is
    worth sending again. Any other database error stays a 500."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return problem(request, 503, "busy", headers={"Retry-After": "1"})
    cause = exc.orig if isinstance(exc, StatementError) else exc
    if not isinstance(exc, DataError) and not isinstance(cause, OverflowError):
        raise exc
    return problem(request, 422, "invalid_request")


async def _unexpected(request: Request, exc: Exception) -> Response:
    return problem(request, 500, "server_error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.SchedulerError, domain_error)
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(StatementError, _database)
    app.add_exception_handler(OverflowError, _database)
    app.add_exception_handler(Exception, _unexpected)
