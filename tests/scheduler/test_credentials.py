"""Staff credentials: TOTP codes (RFC 6238, replay refused), recovery codes used once, the
second factor in the login, password change and reset links (single use, expiring), sessions."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import func, select

from scheduler.accounts import StaffIdentity
from scheduler.credentials import RESET_LIFETIME
from scheduler.credentials_models import RecoveryCode
from scheduler.db import read_session
from scheduler.errors import AuthenticationFailed, InvalidRequest, LoginThrottled
from scheduler.models import AuditEntry, Role, StaffSession
from tests.conftest import PASSWORD

ADDRESS = "192.0.2.20"
EMAIL = "admin@example.org"
NEW_PASSWORD = "purple elephant juggles 42"


def code(secret: str, clock, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(int(clock().timestamp()) + 30 * steps)


def enrol(container, staff_id: int) -> tuple[str, list[str]]:
    secret = container.credentials.start_enrolment(staff_id).secret
    codes = container.credentials.confirm_enrolment(
        staff_id, code(secret, container.accounts._clock)
    )
    return secret, codes


def sessions(container, staff_id: int) -> int:
    with read_session(container.sessions) as session:
        return session.scalar(select(func.count()).where(StaffSession.staff_id == staff_id)) or 0


def actions(container) -> list[str]:
    with read_session(container.sessions) as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_enrolment_gives_an_otpauth_uri_and_ten_recovery_codes(container, world, clock):
    enrolment = container.credentials.start_enrolment(world.admin.id)
    assert enrolment.uri.startswith("otpauth://totp/Sprechstunde:admin%40example.org?secret=")
    assert container.credentials.start_enrolment(world.admin.id) == enrolment  # a reload
    with pytest.raises(InvalidRequest):
        container.credentials.confirm_enrolment(world.admin.id, "000000")
    codes = container.credentials.confirm_enrolment(world.admin.id, code(enrolment.secret, clock))
    assert len(codes) == 10 == len(set(codes))
    assert container.credentials.enrolled(world.admin.id)
    assert "second_factor_enrolled" in actions(container)


def test_login_asks_for_the_code_and_refuses_a_wrong_one(container, world, clock):
    secret, _ = enrol(container, world.admin.id)
    clock.advance(seconds=60)
    with pytest.raises(AuthenticationFailed) as raised:
        container.accounts.login(EMAIL, PASSWORD, ADDRESS)
    assert raised.value.code == "second_factor_required"
    with pytest.raises(AuthenticationFailed) as raised:
        container.accounts.login(EMAIL, PASSWORD, ADDRESS, "123456")
    assert raised.value.code == "second_factor_invalid"
    token = container.accounts.login(EMAIL, PASSWORD, ADDRESS, code(secret, clock))
    assert container.accounts.identify(token).id == world.admin.id


def test_a_code_of_the_step_before_or_after_passes_two_steps_away_not(container, world, clock):
    secret, _ = enrol(container, world.admin.id)
    clock.advance(seconds=120)
    with pytest.raises(AuthenticationFailed):
        container.accounts.login(EMAIL, PASSWORD, ADDRESS, code(secret, clock, steps=-2))
    with pytest.raises(AuthenticationFailed):
        container.accounts.login(EMAIL, PASSWORD, ADDRESS, code(secret, clock, steps=2))
    container.accounts.login(EMAIL, PASSWORD, ADDRESS, code(secret, clock, steps=-1))
    container.accounts.login(EMAIL, PASSWORD, ADDRESS, code(secret, clock, steps=1))


def test_a_code_is_accepted_once(container, world, clock):
    secret, _ = enrol(container, world.admin.id)
    clock.advance(seconds=30)
    used = code(secret, clock)
    container.accounts.login(EMAIL, PASSWORD, ADDRESS, used)
    with pytest.raises(AuthenticationFailed) as raised:
        container.accounts.login(EMAIL, PASSWORD, ADDRESS, used)
    assert raised.value.code == "second_factor_invalid"
    clock.advance(seconds=30)
    container.accounts.login(EMAIL, PASSWORD, ADDRESS, code(secret, clock))


def test_recovery_codes_are_single_use_and_stored_hashed(container, world, clock):
    _, codes = enrol(container, world.admin.id)
    container.accounts.login(EMAIL, PASSWORD, ADDRESS, codes[0].upper())
    with pytest.raises(AuthenticationFailed):
        container.accounts.login(EMAIL, PASSWORD, ADDRESS, codes[0])
    container.accounts.login(EMAIL, PASSWORD, ADDRESS, codes[1].replace("-", " "))
    with read_session(container.sessions) as session:
        stored = set(session.scalars(select(RecoveryCode.code_hash)))
    assert len(stored) == 10
    assert not stored & {c.replace("-", "") for c in codes}
    assert "recovery_code_used" in actions(container)


def test_wrong_codes_are_throttled_like_passwords(container, world, clock):
    enrol(container, world.admin.id)
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            container.accounts.login(EMAIL, PASSWORD, ADDRESS, "000000")
    with pytest.raises(LoginThrottled):
        container.accounts.login(EMAIL, PASSWORD, ADDRESS, "000000")


def test_the_two_step_login_through_a_challenge(container, world, clock):
    secret, _ = enrol(container, world.admin.id)
    clock.advance(seconds=30)
    challenge = container.credentials.challenge(EMAIL, enrol=False)
    with pytest.raises(AuthenticationFailed):
        container.credentials.complete(challenge, "999999", ADDRESS)
    token = container.credentials.complete(challenge, code(secret, clock), ADDRESS)
    assert container.accounts.identify(token).id == world.admin.id
    with pytest.raises(AuthenticationFailed) as raised:  # the challenge is gone
        container.credentials.complete(challenge, code(secret, clock, 1), ADDRESS)
    assert raised.value.code == "login_challenge_expired"


def test_a_role_that_requires_it_is_led_to_enrolment(container, world, clock):
    advisor = world.advisor([])
    container.credentials.require_for(world.admin, [Role.ADVISOR])
    assert container.credentials.required_roles() == {Role.ADVISOR}
    with pytest.raises(AuthenticationFailed) as raised:
        container.accounts.login(advisor.email, PASSWORD, ADDRESS)
    assert raised.value.code == "second_factor_enrolment_required"
    challenge = container.credentials.challenge(advisor.email, enrol=True)
    secret = container.credentials.start_enrolment(advisor.id).secret
    token, codes = container.credentials.complete_enrolment(challenge, code(secret, clock), ADDRESS)
    assert container.accounts.identify(token).id == advisor.id
    assert len(codes) == 10


def test_a_password_change_needs_the_current_one_and_ends_other_sessions(container, world, clock):
    kept = container.accounts.login(EMAIL, PASSWORD, ADDRESS)
    other = container.accounts.login(EMAIL, PASSWORD, "192.0.2.99")
    with pytest.raises(InvalidRequest) as raised:
        container.credentials.change_password(world.admin, kept, "wrong password", NEW_PASSWORD)
    assert raised.value.code == "current_password_wrong"
    with pytest.raises(InvalidRequest) as raised:
        container.credentials.change_password(world.admin, kept, PASSWORD, "short")
    assert raised.value.code == "password_too_short"
    container.credentials.change_password(world.admin, kept, PASSWORD, NEW_PASSWORD)
    assert container.accounts.identify(kept).id == world.admin.id
    with pytest.raises(Exception, match="revoked"):
        container.accounts.identify(other)
    container.accounts.login(EMAIL, NEW_PASSWORD, ADDRESS)
    assert "password_changed" in actions(container)


def reset_secret(container) -> str:
    mails = []
    container.credentials.reset_listeners.append(lambda _s, event: mails.append(event))
    container.credentials.request_reset(EMAIL.upper())
    return mails[-1].secret


def test_a_reset_link_works_once_and_ends_every_session(container, world, clock):
    token = container.accounts.login(EMAIL, PASSWORD, ADDRESS)
    secret = reset_secret(container)
    assert container.credentials.reset_usable(secret)
    container.credentials.reset_password(secret, NEW_PASSWORD)
    assert sessions(container, world.admin.id) == 0
    with pytest.raises(Exception, match="revoked"):
        container.accounts.identify(token)
    assert not container.credentials.reset_usable(secret)
    with pytest.raises(InvalidRequest) as raised:
        container.credentials.reset_password(secret, "another fine passphrase 7")
    assert raised.value.code == "reset_link_invalid"
    container.accounts.login(EMAIL, NEW_PASSWORD, ADDRESS)
    assert {"password_reset_requested", "password_reset"} <= set(actions(container))


def test_a_reset_link_expires(container, world, clock):
    secret = reset_secret(container)
    clock.advance(seconds=RESET_LIFETIME.total_seconds() - 1)
    assert container.credentials.reset_usable(secret)
    clock.advance(seconds=1)
    assert not container.credentials.reset_usable(secret)
    with pytest.raises(InvalidRequest):
        container.credentials.reset_password(secret, NEW_PASSWORD)
    container.accounts.login(EMAIL, PASSWORD, ADDRESS)


def test_a_newer_link_replaces_the_older(container, world, clock):
    first = reset_secret(container)
    second = reset_secret(container)
    assert not container.credentials.reset_usable(first)
    assert container.credentials.reset_usable(second)


def test_an_unknown_address_gets_no_link_and_no_error(container, world):
    mails = []
    container.credentials.reset_listeners.append(lambda _s, event: mails.append(event))
    container.credentials.request_reset("nobody@example.org")
    assert mails == []


def test_admins_list_and_end_sessions(container, world, clock):
    advisor = world.advisor([])
    first = container.accounts.login(advisor.email, PASSWORD, ADDRESS)
    container.accounts.login(advisor.email, PASSWORD, ADDRESS)
    person, live = container.credentials.sessions_of(world.admin, advisor.id)
    assert person.id == advisor.id
    assert len(live) == 2
    helper = StaffIdentity.of(advisor)
    with pytest.raises(Exception, match="permission"):
        container.credentials.sessions_of(helper, advisor.id)
    container.credentials.end_session(world.admin, advisor.id, live[0].id)
    with pytest.raises(Exception, match="revoked"):
        container.accounts.identify(first)
    assert len(container.credentials.sessions_of(world.admin, advisor.id)[1]) == 1


def test_an_admin_removes_a_lost_factor(container, world, clock):
    advisor = world.advisor([])
    enrol(container, advisor.id)
    container.credentials.remove_factor(world.admin, advisor.id)
    assert not container.credentials.enrolled(advisor.id)
    container.accounts.login(advisor.email, PASSWORD, ADDRESS)


def test_at_most_three_links_an_hour(container, world, clock):
    mails = []
    container.credentials.reset_listeners.append(lambda _s, event: mails.append(event))
    for _ in range(5):
        container.credentials.request_reset(EMAIL)
    assert len(mails) == 3
    clock.advance(hours=1)
    container.credentials.request_reset(EMAIL)
    assert len(mails) == 4
