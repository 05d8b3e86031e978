"""What can go wrong in the booking engine.

    SchedulerError
    ├── NotFound                  unknown service, advisor, booking or hold
    ├── InvalidRequest            input that can never succeed as given (-> 422)
    │   ├── OffGrid               a start that is not a slot time of this service
    │   ├── OutsideBookingWindow  in the past, within the minimum notice or beyond the horizon
    │   ├── ClosedDay             a public holiday or closure day
    │   ├── ChannelNotOffered
    │   ├── PhoneRequired         an appointment by phone without a number to call
    │   ├── EmailRequired         a video appointment without an address for its link
    │   ├── NotesTooLong          notes beyond the limit (scheduler/requests.py)
    │   ├── WheelchairAccessInPersonOnly  step-free access asked for other than a visit
    │   ├── CallbackWindowsInvalid  a callback's preferred times: none, too many, past, too far
    │   └── IdempotencyKeyReused  the same key with another request body
    ├── Conflict                  the state does not allow it now (-> 409)
    │   ├── SlotUnavailable       someone else has the slot (or it overlaps)
    │   ├── BookingCancelled      a cancelled booking cannot be changed
    │   ├── TooManyOpenBookings   the per-person cap on open appointments
    │   ├── BookingInPast         an appointment that has begun cannot be changed
    │   ├── BookingNotStarted     an outcome (held, no-show) before the appointment began
    │   ├── AlreadyWaiting        this person already waits for this service (waiting list)
    │   ├── OfferUnavailable      a waiting-list offer that has expired, was declined or is gone
    │   ├── CallbackClaimed       another staff member works this callback request
    │   ├── TooManyOpenCallbacks  the per-person cap on open callback requests
    │   └── CallbackFinished      a callback request booked, settled, closed or withdrawn
    ├── Busy                      contention did not settle within the retries (-> 503)
    ├── TokenError                (-> 401)
    │   ├── TokenInvalid          forged, malformed, foreign, or for another purpose
    │   ├── TokenExpired
    │   └── TokenRevoked          a link re-issued since, or a logged-out session
    ├── AuthenticationFailed      wrong e-mail or password (-> 401)
    ├── LoginThrottled            too many failed logins (-> 429)
    └── PermissionDenied          a role that may not do this (-> 403)

The messages shown to people live in the web layer's translation catalogue, keyed by `code`.
"""

from __future__ import annotations


class SchedulerError(Exception):
    code = "error"

    def __init__(self, detail: str = "", *, code: str | None = None, **params: object) -> None:
        super().__init__(detail or code or self.code)
        if code is not None:
            self.code = code  # a more precise code for the message catalogue
        self.detail = detail
        self.params = params


class NotFound(SchedulerError):
    code = "not_found"


class InvalidRequest(SchedulerError):
    code = "invalid_request"


class OffGrid(InvalidRequest):
    code = "off_grid"


class OutsideBookingWindow(InvalidRequest):
    code = "outside_booking_window"


class ClosedDay(InvalidRequest):
    code = "closed_day"


class ChannelNotOffered(InvalidRequest):
    code = "channel_not_offered"


class PhoneRequired(InvalidRequest):
    code = "phone_required"


class EmailRequired(InvalidRequest):
    code = "email_required"


class NotesTooLong(InvalidRequest):
    code = "notes_too_long"


class WheelchairAccessInPersonOnly(InvalidRequest):
    code = "wheelchair_access_in_person_only"


class IdempotencyKeyReused(InvalidRequest):
    code = "idempotency_key_reused"


class CallbackWindowsInvalid(InvalidRequest):
    code = "callback_windows_invalid"


class Conflict(SchedulerError):
    code = "conflict"


class SlotUnavailable(Conflict):
    code = "slot_unavailable"


class BookingCancelled(Conflict):
    code = "booking_cancelled"


class TooManyOpenBookings(Conflict):
    code = "too_many_open_bookings"


class BookingInPast(Conflict):
    code = "booking_in_past"


class BookingNotStarted(Conflict):
    code = "booking_not_started"


class AlreadyWaiting(Conflict):
    code = "already_waiting"


class OfferUnavailable(Conflict):
    code = "offer_unavailable"


class CallbackClaimed(Conflict):
    code = "callback_claimed"


class CallbackFinished(Conflict):
    code = "callback_finished"


class TooManyOpenCallbacks(Conflict):
    code = "too_many_open_callbacks"


class Busy(SchedulerError):
    code = "busy"


class TokenError(SchedulerError):
    code = "token_invalid"


class TokenInvalid(TokenError):
    code = "token_invalid"


class TokenExpired(TokenError):
    code = "token_expired"


class TokenRevoked(TokenError):
    code = "token_revoked"


class AuthenticationFailed(SchedulerError):
    code = "authentication_failed"


class LoginThrottled(SchedulerError):
    code = "login_throttled"


class PermissionDenied(SchedulerError):
    code = "permission_denied"
