"""Staff accounts: argon2id password hashes, login with a rate limit, access tokens."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from scheduler.db import read_session, utcnow, write_session
from scheduler.errors import (
    AuthenticationFailed,
    InvalidRequest,
    LoginThrottled,
    PermissionDenied,
    TokenRevoked,
)
from scheduler.models import LoginFailure, Role, Staff
from scheduler.tokens import Audience, TokenService

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106 based) defaults
# Verified when the e-mail is unknown, so a wrong address costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")

MIN_PASSWORD_LENGTH = 10
# Calendar programs keep a subscription for years; it is revoked by resetting, not by expiry.
FEED_LIFETIME = timedelta(days=5 * 365)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(
            "password too short",
            field="password",
            code="password_too_short",
            minimum=MIN_PASSWORD_LENGTH,
        )
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class StaffIdentity:
    id: int
    email: str
    name: str
    role: Role
    team_id: int | None

    @classmethod
    def of(cls, staff: Staff) -> StaffIdentity:
        return cls(staff.id, staff.email, staff.name, Role(staff.role), staff.team_id)

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise PermissionDenied(role=self.role.value)


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    window: timedelta = timedelta(minutes=15)
    per_account: int = 5
    per_address: int = 30
    token_lifetime: timedelta = timedelta(hours=12)


class Accounts:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        tokens: TokenService,
        policy: LoginPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._tokens = tokens
        self._policy = policy or LoginPolicy()
        self._clock = clock

    def create(
        self, session: Session, *, email: str, name: str, role: Role, password: str | None
    ) -> Staff:
        email = email.strip().lower()
        if session.scalar(select(Staff.id).where(Staff.email == email)) is not None:
            raise InvalidRequest("e-mail already in use", field="email", code="email_taken")
        staff = Staff(
            email=email,
            name=name.strip(),
            role=Role(role).value,
            password_hash=hash_password(password) if password else None,
        )
        session.add(staff)
        session.flush()
        return staff

    def login(self, email: str, password: str, address: str) -> str:
        """An access token for the staff member, or `AuthenticationFailed`/`LoginThrottled`."""
        email_key, now = email.strip().lower(), self._clock()
        since = now - self._policy.window
        with write_session(self._sessions) as session:
            # Failures older than the window count for nothing: they go on the next login.
            session.execute(delete(LoginFailure).where(LoginFailure.at <= since))
            by_account = session.scalar(
                select(func.count()).where(
                    LoginFailure.email_key == email_key, LoginFailure.at > since
                )
            )
            by_address = session.scalar(
                select(func.count()).where(LoginFailure.address == address, LoginFailure.at > since)
            )
            if (by_account or 0) >= self._policy.per_account or (
                by_address or 0
            ) >= self._policy.per_address:
                raise LoginThrottled(retry_after=int(self._policy.window.total_seconds()))
            staff = session.scalar(select(Staff).where(Staff.email == email_key))
            valid = verify_password(staff.password_hash if staff else None, password)
            if not valid or staff is None or not staff.active:
                session.add(LoginFailure(at=now, email_key=email_key, address=address))
                session.commit()
                raise AuthenticationFailed()
            session.execute(delete(LoginFailure).where(LoginFailure.email_key == email_key))
            return self._tokens.issue(
                Audience.STAFF,
                str(staff.id),
                staff.token_version,
                now,
                self._policy.token_lifetime,
            )

    def identify(self, token: str) -> StaffIdentity:
        claims = self._tokens.decode(token, Audience.STAFF)
        with read_session(self._sessions) as session:
            staff = session.get(Staff, int(claims.subject)) if claims.subject.isdigit() else None
            if staff is None or not staff.active or staff.token_version != claims.version:
                raise TokenRevoked()
            return StaffIdentity.of(staff)

    def feed_token(self, staff_id: int, *, reset: bool = False) -> str:
        """The secret of the staff member's calendar feed; `reset` revokes every earlier one."""
        with write_session(self._sessions) as session:
            staff = session.get(Staff, staff_id)
            if staff is None:
                raise TokenRevoked()
            if reset:
                staff.feed_version += 1
            return self._tokens.issue(
                Audience.FEED, str(staff.id), staff.feed_version, self._clock(), FEED_LIFETIME
            )

    def feed_owner(self, token: str) -> StaffIdentity:
        claims = self._tokens.decode(token, Audience.FEED)
        with read_session(self._sessions) as session:
            staff = session.get(Staff, int(claims.subject)) if claims.subject.isdigit() else None
            if staff is None or not staff.active or staff.feed_version != claims.version:
                raise TokenRevoked()
            return StaffIdentity.of(staff)
