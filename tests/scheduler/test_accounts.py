"""Staff accounts: argon2id hashes, login with a rate limit, access tokens and their revocation."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from scheduler import accounts
from scheduler.accounts import (
    Accounts,
    LoginPolicy,
    StaffIdentity,
    hash_password,
    verify_password,
)
from scheduler.db import read_session, write_session
from scheduler.errors import (
    AuthenticationFailed,
    InvalidRequest,
    LoginThrottled,
    PermissionDenied,
    TokenInvalid,
    TokenRevoked,
)
from scheduler.models import LoginFailure, Role, Staff
from scheduler.tokens import Audience

PASSWORD = "correct horse battery"  # the password of world.admin
ADDRESS = "192.0.2.10"


def fail(accounts, email: str = "admin@example.org", address: str = ADDRESS) -> None:
    with pytest.raises(AuthenticationFailed):
        accounts.login(email, "wrong password!", address)


def create(container, email: str, password: str | None) -> Staff:
    with write_session(container.sessions) as session:
        return container.accounts.create(
            session, email=email, name="Someone", role=Role.ADVISOR, password=password
        )


def change_staff(container, staff_id: int, **changes: object) -> None:
    with write_session(container.sessions) as session:
        staff = session.get(Staff, staff_id)
        assert staff is not None
        for name, value in changes.items():
            setattr(staff, name, value)


def test_passwords_are_hashed_with_argon2id():
    hashed = hash_password("a long enough password")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "a long enough password")
    assert not verify_password(hashed, "another long password")


def test_production_hashes_use_argon2id_with_64_mib_and_three_passes(monkeypatch):
    """The suite swaps in a cheap hasher (conftest); the module's own parameters are these,
    and a login with an unknown address verifies a hash made with them."""
    monkeypatch.undo()
    assert accounts._hasher.hash("a long enough password").startswith("$argon2id$v=19$m=65536,t=3,")
    assert accounts._dummy_hash(accounts._hasher).startswith("$argon2id$v=19$m=65536,t=3,")


def test_equal_passwords_get_different_hashes():
    assert hash_password("a long enough password") != hash_password("a long enough password")


def test_a_missing_hash_never_verifies():
    assert not verify_password(None, "not a password of anyone")


def test_a_short_password_is_refused():
    with pytest.raises(InvalidRequest) as raised:
        hash_password("short")
    assert raised.value.code == "password_too_short"
    assert raised.value.params["minimum"] == 10


def test_an_account_with_a_short_password_is_not_created(container):
    with pytest.raises(InvalidRequest):
        create(container, "x@example.org", "123456789")
    with read_session(container.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Staff)) == 0


def test_the_stored_hash_is_argon2id(container, world):
    with read_session(container.sessions) as session:
        staff = session.get(Staff, world.admin.id)
        assert staff is not None
        assert staff.password_hash is not None
        assert staff.password_hash.startswith("$argon2id$")
        assert PASSWORD not in staff.password_hash


def test_email_addresses_are_stored_in_lower_case(container):
    assert create(container, " Erika.Muster@Example.ORG ", None).email == (
        "erika.muster@example.org"
    )


def test_email_addresses_are_unique_regardless_of_case(container, world):
    with pytest.raises(InvalidRequest) as raised:
        create(container, " Admin@Example.ORG", None)
    assert raised.value.code == "email_taken"


def test_login_returns_a_staff_token(container, world):
    token = container.accounts.login("admin@example.org", PASSWORD, ADDRESS)
    claims = container.tokens.decode(token, Audience.STAFF)
    assert claims.subject == str(world.admin.id)
    identity = container.accounts.identify(token)
    assert identity == world.admin
    assert identity.role == Role.ADMIN


def test_login_ignores_case_and_spaces_in_the_email(container, world):
    token = container.accounts.login("  ADMIN@example.org ", PASSWORD, ADDRESS)
    assert container.accounts.identify(token).id == world.admin.id


def test_a_staff_token_is_no_booking_link(container, world):
    token = container.accounts.login("admin@example.org", PASSWORD, ADDRESS)
    with pytest.raises(TokenInvalid):
        container.tokens.decode(token, Audience.MANAGE)


def test_a_wrong_password_fails(container, world):
    with pytest.raises(AuthenticationFailed):
        container.accounts.login("admin@example.org", "wrong password!", ADDRESS)


def test_an_unknown_email_fails_like_a_wrong_password(container, world):
    with pytest.raises(AuthenticationFailed):
        container.accounts.login("nobody@example.org", PASSWORD, ADDRESS)


def test_an_account_without_password_cannot_log_in(container, world):
    staff = world.advisor([], password=None)
    with pytest.raises(AuthenticationFailed):
        container.accounts.login(staff.email, "", ADDRESS)


def test_a_deactivated_account_cannot_log_in(container, world):
    change_staff(container, world.admin.id, active=False)
    with pytest.raises(AuthenticationFailed):
        container.accounts.login("admin@example.org", PASSWORD, ADDRESS)


def test_five_failures_throttle_that_address_even_with_the_right_password(container, world):
    for _ in range(5):
        fail(container.accounts)
    with pytest.raises(LoginThrottled) as raised:
        container.accounts.login("admin@example.org", PASSWORD, ADDRESS)
    assert raised.value.params["retry_after"] == 15 * 60


def test_an_attacker_address_cannot_lock_out_the_owner(container, world):
    for _ in range(10):
        with contextlib.suppress(AuthenticationFailed, LoginThrottled):
            container.accounts.login("admin@example.org", "wrong password!", "198.51.100.66")
    assert container.accounts.identify(
        container.accounts.login("admin@example.org", PASSWORD, ADDRESS)
    )


def test_the_account_cap_over_all_addresses_throttles_everyone(container, world, clock):
    accounts = Accounts(
        container.sessions, container.tokens, LoginPolicy(per_account=6), clock=clock
    )
    for n in range(6):
        fail(accounts, address=f"198.51.100.{n}")
    with pytest.raises(LoginThrottled):
        accounts.login("admin@example.org", PASSWORD, ADDRESS)


def test_the_password_is_checked_outside_every_write_transaction(container, world):
    """Another writer commits while the password is verified: no write lock is held then."""
    committed = []

    def verify(password_hash, password):
        def write():
            with write_session(container.sessions) as session:
                now = container.scheduler.clock()
                session.add(LoginFailure(at=now, email_key="x", address="y"))
            committed.append(True)

        writer = threading.Thread(target=write)
        writer.start()
        writer.join(timeout=60)  # a deadlock guard, not a timing assertion
        return verify_password(password_hash, password)

    accounts = Accounts(container.sessions, container.tokens, verify=verify)
    assert accounts.login("admin@example.org", PASSWORD, ADDRESS)
    assert committed == [True]


@pytest.mark.parametrize(
    "password", ["aaaaaaaaaa", "1234567890", "password12", " " * 10, "qwertzuiop"]
)
def test_common_and_trivial_passwords_are_refused(password):
    with pytest.raises(InvalidRequest) as raised:
        hash_password(password)
    assert raised.value.code == "password_too_weak"
    assert raised.value.params["hints"]


def test_logout_ends_only_that_session(container, world):
    first = container.accounts.login("admin@example.org", PASSWORD, ADDRESS)
    second = container.accounts.login("admin@example.org", PASSWORD, ADDRESS)
    container.accounts.logout(first)
    with pytest.raises(TokenRevoked):
        container.accounts.identify(first)
    assert container.accounts.identify(second).id == world.admin.id


def test_an_admin_ends_all_sessions_and_deactivation_ends_them(container, world):
    advisor = world.advisor([])
    tokens = [container.accounts.login(advisor.email, PASSWORD, ADDRESS) for _ in range(2)]
    container.accounts.end_sessions(world.admin, advisor.id)
    for token in tokens:
        with pytest.raises(TokenRevoked):
            container.accounts.identify(token)
    token = container.accounts.login(advisor.email, PASSWORD, ADDRESS)
    container.accounts.set_active(world.admin, advisor.id, False)
    with pytest.raises(TokenRevoked):
        container.accounts.identify(token)
    with pytest.raises(PermissionDenied):
        container.accounts.end_sessions(StaffIdentity.of(advisor), world.admin.id)


def test_a_token_without_a_session_is_revoked(container, world):
    token = container.tokens.issue(
        Audience.STAFF, str(world.admin.id), 1, container.scheduler.clock(), timedelta(hours=1)
    )
    with pytest.raises(TokenRevoked):
        container.accounts.identify(token)


def test_four_failures_do_not_throttle(container, world):
    for _ in range(4):
        fail(container.accounts)
    assert container.accounts.login("admin@example.org", PASSWORD, ADDRESS)


def test_a_successful_login_clears_the_failures_of_the_account(container, world):
    for _ in range(4):
        fail(container.accounts)
    container.accounts.login("admin@example.org", PASSWORD, ADDRESS)
    fail(container.accounts)
    assert container.accounts.login("admin@example.org", PASSWORD, ADDRESS)


def test_the_account_throttle_lifts_after_the_window(container, world, clock):
    for _ in range(5):
        fail(container.accounts)
    clock.advance(minutes=14, seconds=59)
    with pytest.raises(LoginThrottled):
        container.accounts.login("admin@example.org", PASSWORD, ADDRESS)
    clock.advance(seconds=1)
    assert container.accounts.login("admin@example.org", PASSWORD, ADDRESS)


def test_failures_from_one_address_throttle_it_across_accounts(container, world, clock):
    # The default allows 30 failures per address; three keep the test fast.
    accounts = Accounts(
        container.sessions, container.tokens, LoginPolicy(per_address=3), clock=clock
    )
    for n in range(3):
        fail(accounts, f"guess{n}@example.org")
    with pytest.raises(LoginThrottled):
        accounts.login("admin@example.org", PASSWORD, ADDRESS)
    assert accounts.login("admin@example.org", PASSWORD, "198.51.100.7")
    clock.advance(minutes=15)
    assert accounts.login("admin@example.org", PASSWORD, ADDRESS)


def test_the_default_policy_allows_thirty_failures_per_address():
    policy = LoginPolicy()
    assert (policy.per_source, policy.per_address, policy.per_account) == (5, 30, 100)
    assert policy.window == timedelta(minutes=15)


def test_failures_are_recorded_for_the_rate_limit(container, world):
    fail(container.accounts, "Nobody@Example.org")
    with read_session(container.sessions) as session:
        failure = session.scalars(select(LoginFailure)).one()
        assert (failure.email_key, failure.address) == ("nobody@example.org", ADDRESS)


def test_failures_older_than_the_window_are_deleted_on_the_next_login(container, world, clock):
    fail(container.accounts)
    clock.advance(minutes=16)
    fail(container.accounts)
    with read_session(container.sessions) as session:
        assert session.scalar(select(func.count()).select_from(LoginFailure)) == 1


def test_a_raised_token_version_revokes_issued_tokens(container, world):
    token = container.accounts.login("admin@example.org", PASSWORD, ADDRESS)
    change_staff(container, world.admin.id, token_version=2)
    with pytest.raises(TokenRevoked):
        container.accounts.identify(token)
    fresh = container.accounts.login("admin@example.org", PASSWORD, ADDRESS)
    assert container.accounts.identify(fresh).id == world.admin.id


def test_deactivation_revokes_issued_tokens(container, world):
    token = container.accounts.login("admin@example.org", PASSWORD, ADDRESS)
    change_staff(container, world.admin.id, active=False)
    with pytest.raises(TokenRevoked):
        container.accounts.identify(token)


def test_a_token_for_a_deleted_account_is_revoked(container, world):
    staff = world.advisor([], password=None)
    token = container.tokens.issue(
        Audience.STAFF, str(staff.id + 100), 1, container.scheduler.clock(), timedelta(hours=1)
    )
    with pytest.raises(TokenRevoked):
        container.accounts.identify(token)


def test_identities_check_roles():
    hotline = StaffIdentity(7, "h@example.org", "H", Role.HOTLINE, None)
    hotline.require(Role.ADMIN, Role.HOTLINE)
    with pytest.raises(PermissionDenied):
        hotline.require(Role.ADMIN)
