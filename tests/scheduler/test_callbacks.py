"""The callback queue's engine (scheduler/callbacks.py): requests and their rules, claims,
attempts, booking and settling, the citizen's withdrawal, who sees what, its mails and its
retention. The clock is the frozen one of tests/conftest.py (Monday 2031-01-06 08:00 Berlin)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from notifications.models import OutboxMessage
from scheduler.accounts import StaffIdentity
from scheduler.callbacks_models import (
    AttemptOutcome,
    CallbackAttempt,
    CallbackRequest,
    CallbackStatus,
)
from scheduler.callbacks_retention import ERASERS as CALLBACK_ERASERS
from scheduler.callbacks_rules import CallbackInput
from scheduler.db import read_session, write_session
from scheduler.errors import (
    CallbackClaimed,
    CallbackFinished,
    CallbackWindowsInvalid,
    EmailRequired,
    NotesTooLong,
    NotFound,
    PermissionDenied,
    SlotUnavailable,
    TokenInvalid,
    TooManyOpenCallbacks,
)
from scheduler.models import Booking, Role, Service
from scheduler.requests import BookingRequest
from scheduler.retention import Retention
from scheduler.tokens import Audience

BERLIN = ZoneInfo("Europe/Berlin")
RETENTION = timedelta(days=90)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in Berlin, `day` days after the frozen Monday 2031-01-06."""
    return datetime.combine(datetime(2031, 1, 6 + day).date(), time(hour, minute), BERLIN)


def window(day: int, start: int, end: int) -> tuple[datetime, datetime]:
    return at(day, start), at(day, end)


@pytest.fixture
def service(world) -> Service:
    return world.service(channels=["video", "phone", "in_person"])


@pytest.fixture
def advisor(world, service):
    return world.advisor([service], password=None)


@pytest.fixture
def desk(container):
    return container.callbacks


def staff(world, role: Role, services=()) -> StaffIdentity:
    return StaffIdentity.of(world.advisor(list(services), role=role, password=None))


@pytest.fixture
def hotline(world) -> StaffIdentity:
    return staff(world, Role.HOTLINE)


@pytest.fixture
def colleague(world) -> StaffIdentity:
    return staff(world, Role.HOTLINE)


def ask(service: Service, **changes: object) -> CallbackInput:
    values: dict[str, object] = {
        "service_id": service.id,
        "name": "Erika Mustermann",
        "phone": "0391 123456",
        "windows": [window(1, 9, 12)],
        "email": "erika@example.org",
        "language": "de",
        "note": "Wohngeld, Bescheid unklar",
    }
    values.update(changes)
    return CallbackInput(**values)  # type: ignore[arg-type]


def kinds(container) -> list[str]:
    with read_session(container.sessions) as session:
        return list(session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)))


def delivered_text(container, kind: str) -> str:
    container.outbox.deliver_due()
    with read_session(container.sessions) as session:
        text = session.scalar(select(OutboxMessage.text_body).where(OutboxMessage.kind == kind))
    assert text is not None
    return text


def set_flag(container, service: Service, allowed: bool) -> None:
    with write_session(container.sessions) as session:
        session.get(Service, service.id).advisors_take_callbacks = allowed  # type: ignore[union-attr]


# -- the request ----------------------------------------------------------------------------


def test_a_request_is_open_and_due_at_its_earliest_window(desk, service):
    later, sooner = window(3, 13, 15), window(1, 9, 11)

    callback = desk.request(ask(service, windows=[later, sooner]))

    assert callback.status == CallbackStatus.OPEN
    assert callback.due_at == sooner[0]
    assert [s for s, _ in callback.windows] == [sooner[0], later[0]]
    assert callback.reference.startswith("R")


@pytest.mark.parametrize(
    "windows",
    [
        [],
        [window(1, 9, 10), window(1, 10, 11), window(1, 11, 12), window(2, 9, 10)],
        [(at(1, 10), at(1, 9))],
        [(at(1, 9), at(1, 9))],
        [(at(0, 6), at(0, 7))],  # over before "now" (08:00)
        [(at(15, 9), at(15, 10))],  # beyond the coming 14 days
        [(at(1, 6), at(1, 19))],  # longer than a part of a day
    ],
    ids=["none", "four", "reversed", "empty", "past", "too-far", "too-long"],
)
def test_unusable_windows_are_refused(desk, service, windows):
    with pytest.raises(CallbackWindowsInvalid):
        desk.request(ask(service, windows=windows))


def test_a_window_that_has_begun_but_not_ended_is_taken(desk, service):
    callback = desk.request(ask(service, windows=[(at(0, 7), at(0, 10))]))

    assert callback.due_at == at(0, 7)


def test_a_note_beyond_500_characters_is_refused(desk, service):
    with pytest.raises(NotesTooLong):
        desk.request(ask(service, note="x" * 501))


def test_an_unknown_service_is_not_found(desk, service):
    with pytest.raises(NotFound):
        desk.request(ask(service, service_id=service.id + 99))


def test_the_confirmation_mail_carries_the_withdraw_link(container, desk, service):
    desk.request(ask(service))

    text = delivered_text(container, "callback_received")

    assert "Wir haben Ihre Rückrufbitte erhalten" in text
    assert "http://testserver/r/" in text
    assert "Dienstag, 7. Januar 2031, 09:00 bis 12:00 Uhr" in text


def test_the_confirmation_is_in_english_for_english_requests(container, desk, service):
    desk.request(ask(service, language="en"))

    text = delivered_text(container, "callback_received")

    assert "We have received your callback request" in text


def test_a_request_without_email_writes_no_mail(container, desk, service):
    desk.request(ask(service, email=None))

    assert kinds(container) == []


def test_a_request_withdrawn_before_its_confirmation_went_out_gets_none(container, desk, service):
    callback = desk.request(ask(service))
    desk.withdraw(desk.withdraw_token(callback))

    container.outbox.deliver_due()

    with read_session(container.sessions) as session:
        assert session.scalar(select(OutboxMessage.text_body)) is None


def test_one_person_has_at_most_two_open_requests_per_service(world, desk, service):
    desk.request(ask(service, phone="0391 123456", email="ERIKA@example.org"))
    desk.request(ask(service, phone="+49 (391) 123-456", email="erika@example.org"))

    with pytest.raises(TooManyOpenCallbacks):
        desk.request(ask(service, phone="+49 391 123456", email=None))
    with pytest.raises(TooManyOpenCallbacks):
        desk.request(ask(service, phone="030 999", email="Erika+neu@Example.org"))
    assert desk.request(ask(world.service(name="Pflege"))).status == CallbackStatus.OPEN


def test_a_withdrawn_request_no_longer_counts_against_the_cap(desk, service):
    first = desk.request(ask(service))
    desk.request(ask(service))
    desk.withdraw(desk.withdraw_token(first))

    assert desk.request(ask(service)).status == CallbackStatus.OPEN


# -- claims ---------------------------------------------------------------------------------


def test_a_claim_by_one_refuses_another_naming_the_holder(desk, service, hotline, colleague):
    callback = desk.request(ask(service))
    desk.claim(hotline, callback.id)

    with pytest.raises(CallbackClaimed) as refused:
        desk.claim(colleague, callback.id)

    assert refused.value.params["claimed_by"] == hotline.name
    assert refused.value.params["claimed_by_id"] == hotline.id


def test_claiming_again_keeps_the_claim_and_its_time(desk, service, hotline, clock):
    callback = desk.request(ask(service))
    first = desk.claim(hotline, callback.id)
    clock.advance(minutes=5)

    again = desk.claim(hotline, callback.id)

    assert again.status == CallbackStatus.CLAIMED
    assert again.claimed_at == first.claimed_at


def test_a_released_request_can_be_claimed_by_another(desk, service, hotline, colleague):
    callback = desk.request(ask(service))
    desk.claim(hotline, callback.id)

    released = desk.release(hotline, callback.id)
    taken = desk.claim(colleague, callback.id)

    assert released.status == CallbackStatus.OPEN
    assert released.claimed_by_id is None
    assert taken.claimed_by_id == colleague.id


def test_nobody_but_the_holder_or_an_admin_releases_a_claim(
    world, desk, service, hotline, colleague
):
    callback = desk.request(ask(service))
    desk.claim(hotline, callback.id)

    with pytest.raises(CallbackClaimed):
        desk.release(colleague, callback.id)
    assert desk.release(world.admin, callback.id).status == CallbackStatus.OPEN


def test_a_finished_request_cannot_be_claimed(desk, service, hotline):
    callback = desk.request(ask(service))
    desk.settle(hotline, callback.id)

    with pytest.raises(CallbackFinished):
        desk.claim(hotline, callback.id)


# -- attempts -------------------------------------------------------------------------------


def test_not_reached_logs_the_attempt_and_returns_the_request_to_the_queue(
    container, desk, service, hotline, clock
):
    callback = desk.request(ask(service))

    after = desk.attempt(hotline, callback.id, AttemptOutcome.NOT_REACHED)

    assert after.status == CallbackStatus.OPEN
    assert after.attempts == 1
    assert after.claimed_by_id is None
    (logged,) = desk.attempts(hotline, callback.id)
    assert (logged.outcome, logged.staff_id, logged.at) == ("not_reached", hotline.id, clock.now)


def test_the_configured_number_of_failed_attempts_closes_and_tells_the_citizen(
    container, desk, service, hotline
):
    callback = desk.request(ask(service))
    for _ in range(desk.config.max_failed_attempts - 1):
        assert desk.attempt(hotline, callback.id, "not_reached").status == CallbackStatus.OPEN

    closed = desk.attempt(hotline, callback.id, "not_reached")

    assert closed.status == CallbackStatus.CLOSED
    assert closed.closed_at is not None
    text = delivered_text(container, "callback_closed")
    assert "Wir konnten Sie nicht erreichen" in text
    assert "http://testserver/" in text


def test_a_wrong_number_closes_at_once(container, desk, service, hotline):
    callback = desk.request(ask(service))

    closed = desk.attempt(hotline, callback.id, AttemptOutcome.WRONG_NUMBER)

    assert closed.status == CallbackStatus.CLOSED
    assert "callback_closed" in kinds(container)


def test_a_closed_request_without_email_tells_nobody(container, desk, service, hotline):
    callback = desk.request(ask(service, email=None))

    desk.attempt(hotline, callback.id, AttemptOutcome.WRONG_NUMBER)

    assert kinds(container) == []


def test_reached_keeps_the_claim_for_what_follows(desk, service, hotline):
    callback = desk.request(ask(service))

    after = desk.attempt(hotline, callback.id, AttemptOutcome.REACHED)

    assert (after.status, after.claimed_by_id, after.attempts) == ("claimed", hotline.id, 1)


def test_an_attempt_on_a_request_another_holds_is_refused(desk, service, hotline, colleague):
    callback = desk.request(ask(service))
    desk.claim(hotline, callback.id)

    with pytest.raises(CallbackClaimed):
        desk.attempt(colleague, callback.id, AttemptOutcome.REACHED)


# -- booking and settling -------------------------------------------------------------------


def test_booking_carries_the_citizens_data_over(container, desk, service, advisor, hotline):
    callback = desk.request(ask(service, language="en"))
    desk.claim(hotline, callback.id)

    after, booking = desk.book(hotline, callback.id, at(1, 9), "phone")

    assert (after.status, after.booking_id) == (CallbackStatus.BOOKED, booking.id)
    assert (booking.name, booking.phone, booking.email, booking.language, booking.notes) == (
        "Erika Mustermann",
        "0391 123456",
        "erika@example.org",
        "en",
        "Wohngeld, Bescheid unklar",
    )
    assert booking.advisor_name == advisor.name
    # The hotline's phone appointment gets the callback message with its invite.
    assert "callback_scheduled" in kinds(container)


def test_booking_a_taken_slot_leaves_the_request_claimed(
    container, desk, service, advisor, hotline
):
    container.scheduler.book(
        BookingRequest(service.id, at(1, 9), "video", "Max Muster", "max@example.org")
    )
    callback = desk.request(ask(service))

    with pytest.raises(SlotUnavailable):
        desk.book(hotline, callback.id, at(1, 9), "phone")

    assert desk.get(hotline, callback.id).status == CallbackStatus.CLAIMED


def test_a_video_appointment_needs_the_citizens_email(desk, service, advisor, hotline):
    callback = desk.request(ask(service, email=None))

    with pytest.raises(EmailRequired):
        desk.book(hotline, callback.id, at(1, 9), "video")


def test_a_request_withdrawn_meanwhile_is_not_booked(container, desk, service, advisor, hotline):
    callback = desk.request(ask(service))
    desk.claim(hotline, callback.id)
    # The citizen withdraws between the agent's claim and the booking's transaction.
    original = desk._taken

    def withdrawn_meanwhile(session, actor, callback_id):
        row = original(session, actor, callback_id)
        row.status = CallbackStatus.WITHDRAWN
        return row

    desk._taken = withdrawn_meanwhile
    with pytest.raises(CallbackFinished):
        desk.book(hotline, callback.id, at(1, 9), "phone")
    with read_session(container.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Booking)) == 0


def test_settled_on_the_phone_closes_the_request(desk, service, hotline):
    callback = desk.request(ask(service))

    settled = desk.settle(hotline, callback.id)

    assert settled.status == CallbackStatus.SETTLED
    assert settled.closed_at is not None


# -- the citizen's link ---------------------------------------------------------------------


def test_the_citizen_withdraws_through_the_link_once_and_again(desk, service):
    callback = desk.request(ask(service))
    token = desk.withdraw_token(callback)

    first = desk.withdraw(token)
    again = desk.withdraw(token)

    assert first.status == again.status == CallbackStatus.WITHDRAWN
    assert desk.for_token(token).status == CallbackStatus.WITHDRAWN


def test_a_booked_request_cannot_be_withdrawn(desk, service, advisor, hotline):
    callback = desk.request(ask(service))
    desk.book(hotline, callback.id, at(1, 9), "phone")

    with pytest.raises(CallbackFinished):
        desk.withdraw(desk.withdraw_token(callback))


def test_another_links_token_is_refused(container, desk, service):
    callback = desk.request(ask(service))
    foreign = container.tokens.issue(
        Audience.MANAGE, callback.reference, 1, callback.created_at, timedelta(days=1)
    )

    with pytest.raises(TokenInvalid):
        desk.withdraw(foreign)


# -- who sees what --------------------------------------------------------------------------


def test_the_queue_is_ordered_by_due_time_and_filtered(world, desk, service, hotline):
    other = world.service(name="Pflege")
    late = desk.request(ask(service, windows=[window(2, 9, 10)]))
    soon = desk.request(ask(service, windows=[window(1, 9, 10)], language="en"))
    elsewhere = desk.request(ask(other, windows=[window(1, 8, 9)]))

    assert [c.id for c in desk.queue(hotline)] == [elsewhere.id, soon.id, late.id]
    assert [c.id for c in desk.queue(hotline, service_id=service.id)] == [soon.id, late.id]
    assert [c.id for c in desk.queue(hotline, language="en")] == [soon.id]


def test_the_queue_shows_one_status_when_asked(desk, service, hotline):
    first = desk.request(ask(service))
    desk.request(ask(service))
    desk.settle(hotline, first.id)

    assert [c.id for c in desk.queue(hotline, CallbackStatus.SETTLED)] == [first.id]
    assert len(desk.queue(hotline)) == 1


def test_advisors_see_no_queue_unless_their_service_allows_it(world, container, desk, service):
    advisor = StaffIdentity.of(world.advisor([service], password=None))
    callback = desk.request(ask(service))

    with pytest.raises(PermissionDenied):
        desk.queue(advisor)
    with pytest.raises(NotFound):
        desk.claim(advisor, callback.id)


def test_advisors_work_the_queue_of_their_own_allowing_services(world, container, desk, service):
    other = world.service(name="Pflege")
    set_flag(container, service, True)
    set_flag(container, other, True)
    advisor = StaffIdentity.of(world.advisor([service], password=None))
    mine = desk.request(ask(service))
    theirs = desk.request(ask(other))

    assert [c.id for c in desk.queue(advisor)] == [mine.id]
    assert desk.claim(advisor, mine.id).claimed_by_id == advisor.id
    with pytest.raises(NotFound):
        desk.claim(advisor, theirs.id)


def test_only_admins_open_a_queue_to_advisors(world, desk, service, hotline):
    with pytest.raises(PermissionDenied):
        desk.open_to_advisors(hotline, service.id, True)
    assert desk.open_to_advisors(world.admin, service.id, True) is True


def test_advisors_cannot_take_requests_on_the_phone(world, desk, service):
    advisor = StaffIdentity.of(world.advisor([service], password=None))

    with pytest.raises(PermissionDenied):
        desk.create(advisor, ask(service))


def test_hotline_requests_name_who_took_them(container, desk, service, hotline):
    callback = desk.create(hotline, ask(service))

    with read_session(container.sessions) as session:
        row = session.get(CallbackRequest, callback.id)
        assert row is not None
        assert row.created_by_id == hotline.id


# -- retention ------------------------------------------------------------------------------


def test_retention_deletes_finished_requests_and_their_attempts(
    container, desk, service, hotline, clock
):
    done = desk.request(ask(service))
    desk.attempt(hotline, done.id, AttemptOutcome.WRONG_NUMBER)
    clock.advance(days=RETENTION.days - 1)
    fresh = desk.request(
        ask(service, windows=[(clock.now + timedelta(hours=1), clock.now + timedelta(hours=2))])
    )
    clock.advance(days=2)

    # Not among the container's erasers yet: tests/scheduler/test_retention.py names them all.
    Retention(container.sessions, RETENTION, CALLBACK_ERASERS, clock=clock).purge()

    with read_session(container.sessions) as session:
        assert list(session.scalars(select(CallbackRequest.id))) == [fresh.id]
        assert session.scalar(select(func.count()).select_from(CallbackAttempt)) == 0


# -- the mails as they go out ---------------------------------------------------------------


@pytest.mark.parametrize("language", ["de", "en"])
def test_callback_mails_are_self_contained_documents_in_their_language(
    container, desk, service, hotline, language
):
    callback = desk.request(ask(service, language=language, name="<b>Erika</b>"))
    desk.attempt(hotline, callback.id, AttemptOutcome.WRONG_NUMBER)
    desk.request(ask(service, language=language))
    container.outbox.deliver_due()

    with read_session(container.sessions) as session:
        mails = session.execute(
            select(OutboxMessage.kind, OutboxMessage.subject, OutboxMessage.html_body).where(
                OutboxMessage.html_body.is_not(None)  # the first request's confirmation is moot
            )
        ).all()
    assert {kind for kind, _, _ in mails} == {"callback_received", "callback_closed"}
    for _, subject, html in mails:
        assert subject
        assert "\n" not in subject
        assert html.startswith("<!DOCTYPE html>")
        assert f'<html lang="{language}" dir="ltr">' in html
        assert "<b>Erika" not in html
        for external in ("<img", "src=", "<link", "<script", "@import"):
            assert external not in html.lower()
