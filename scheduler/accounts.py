"""Staff accounts: argon2id password hashes, login with a rate limit, access tokens."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker
from zxcvbn import zxcvbn  # type: ignore[import-untyped]  # the package ships no types

from scheduler.db import read_session, utcnow, write_session
from scheduler.errors import (
    AuthenticationFailed,
    InvalidRequest,
    LoginThrottled,
    NotFound,
    PermissionDenied,
    TokenError,
    TokenRevoked,
)
from scheduler.models import LoginFailure, Role, Staff, StaffSession
from scheduler.tokens import Audience, TokenService

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106 based) defaults

MIN_PASSWORD_LENGTH = 10
# zxcvbn's score 3: "safely unguessable", moderate protection even against an offline attack.
MIN_PASSWORD_SCORE = 3
# zxcvbn's matching grows steeply with the length; a longer password is judged by its start.
_ESTIMATE_LENGTH = 100
# Calendar programs keep a subscription for years; it is revoked by resetting, not by expiry.
FEED_LIFETIME = timedelta(days=5 * 365)
# Any constant: on PostgreSQL, the transaction-scoped advisory lock that makes counting the
# failed logins and recording the next attempt one step (SQLite's write lock does it there).
_LOGIN_LOCK = 0x5370_4C6F


def check_password_strength(password: str, user_inputs: Sequence[str] = ()) -> None:
    """Refuse a password that is short, common or trivial (a repetition, a sequence, a
    keyboard row, the user's own name), with zxcvbn's hints why and what helps."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(
            "password too short",
            field="password",
            code="password_too_short",
            minimum=MIN_PASSWORD_LENGTH,
        )
    estimate = zxcvbn(password[:_ESTIMATE_LENGTH], user_inputs=list(user_inputs))
    if estimate["score"] < MIN_PASSWORD_SCORE:
        feedback = estimate["feedback"]
        hints = [feedback["warning"], *feedback["suggestions"]]
        raise InvalidRequest(
            "password too weak",
            field="password",
            code="password_too_weak",
            hints=[hint for hint in hints if hint],
        )


def hash_password(password: str, user_inputs: Sequence[str] = ()) -> str:
    check_password_strength(password, user_inputs)
    return _hasher.hash(password)


@lru_cache(maxsize=4)
def _dummy_hash(hasher: PasswordHasher) -> str:
    """Verified when the e-mail is unknown, so a wrong address costs as long as a wrong
    password. Made on first use, not on import: a tenth of a second for every command."""
    return hasher.hash("not a password of anyone")


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        hashed = password_hash or _dummy_hash(_hasher)
        return _hasher.verify(hashed, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class StaffIdentity:
    id: int
    email: str
    name: str
    role: Role
    team_id: int | None
    team_lead: bool = False

    @classmethod
    def of(cls, staff: Staff) -> StaffIdentity:
        lead = staff.team_lead and staff.team_id is not None
        return cls(staff.id, staff.email, staff.name, Role(staff.role), staff.team_id, lead)

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise PermissionDenied(role=self.role.value)


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """Failed logins allowed within `window`. The tight limit is per account *and* address, so
    guessing from elsewhere never locks the owner out at their own desk; an address has a cap
    over all accounts, and an account one over all addresses that only a distributed attack
    reaches (at 5 per address it needs 20 addresses)."""

    window: timedelta = timedelta(minutes=15)
    per_source: int = 5
    per_address: int = 30
    per_account: int = 100
    token_lifetime: timedelta = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class _Credentials:
    staff_id: int | None
    password_hash: str | None
    active: bool


class Accounts:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        tokens: TokenService,
        policy: LoginPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
        verify: Callable[[str | None, str], bool] = verify_password,
    ) -> None:
        self._sessions = sessions
        self._tokens = tokens
        self._policy = policy or LoginPolicy()
        self._clock = clock
        self._verify = verify
        # Asked after the password, in the login's transaction: raises when a second factor is
        # due and `second_factor` does not pass it (scheduler/credentials.py).
        self.gate: Callable[[Session, Staff, str | None, datetime], None] | None = None

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
            password_hash=hash_password(password, (email, name)) if password else None,
        )
        session.add(staff)
        session.flush()
        return staff

    def login(
        self, email: str, password: str, address: str, second_factor: str | None = None
    ) -> str:
        """An access token for the staff member, or `AuthenticationFailed`/`LoginThrottled`.

        The attempt is counted before the password is checked (it is a failure until proven
        otherwise), so parallel guesses cannot all pass the count. argon2 runs outside every
        transaction: on SQLite a write transaction holds the one write lock of the database.
        """
        email_key, now = email.strip().lower(), self._clock()
        attempt = self.count_attempt(email_key, address, now)
        credentials = self._credentials(email_key)
        valid = self._verify(credentials.password_hash, password)
        if not valid or credentials.staff_id is None or not credentials.active:
            raise AuthenticationFailed()
        with write_session(self._sessions) as session:
            staff = session.get(Staff, credentials.staff_id)
            # Changed while the password was checked: deactivated, or a new password set.
            if (
                staff is None
                or not staff.active
                or staff.password_hash != credentials.password_hash
            ):
                raise AuthenticationFailed()
            if self.gate is not None:
                # Raising rolls back: the attempt stays counted, so codes are throttled too.
                self.gate(session, staff, second_factor, now)
            session.execute(delete(LoginFailure).where(LoginFailure.id == attempt))
            return self.open_session(session, staff, address, now)

    def open_session(self, session: Session, staff: Staff, address: str, now: datetime) -> str:
        """A new session and its access token, once every step of the login has passed."""
        session.execute(
            delete(LoginFailure).where(
                LoginFailure.email_key == staff.email, LoginFailure.address == address
            )
        )
        session.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
        lifetime = self._policy.token_lifetime
        live = StaffSession(
            id=secrets.token_urlsafe(32),
            staff_id=staff.id,
            created_at=now,
            expires_at=now + lifetime,
        )
        session.add(live)
        return self._tokens.issue(
            Audience.STAFF, str(staff.id), staff.token_version, now, lifetime, {"sid": live.id}
        )

    def count_attempt(self, email_key: str, address: str, now: datetime) -> int:
        """Record the attempt as a failure, unless the failures so far throttle it; the id of
        the record, which a successful login deletes."""
        since = now - self._policy.window
        with write_session(self._sessions) as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(select(func.pg_advisory_xact_lock(_LOGIN_LOCK)))
            # Failures older than the window count for nothing: they go on the next login.
            session.execute(delete(LoginFailure).where(LoginFailure.at <= since))
            recent = select(func.count()).where(LoginFailure.at > since)
            limits = (
                (
                    (LoginFailure.email_key == email_key) & (LoginFailure.address == address),
                    self._policy.per_source,
                ),
                (LoginFailure.address == address, self._policy.per_address),
                (LoginFailure.email_key == email_key, self._policy.per_account),
            )
            for condition, limit in limits:
                if (session.scalar(recent.where(condition)) or 0) >= limit:
                    raise LoginThrottled(retry_after=int(self._policy.window.total_seconds()))
            attempt = LoginFailure(at=now, email_key=email_key, address=address)
            session.add(attempt)
            session.flush()
            return attempt.id

    def _credentials(self, email_key: str) -> _Credentials:
        with read_session(self._sessions) as session:
            staff = session.scalar(select(Staff).where(Staff.email == email_key))
            if staff is None:
                return _Credentials(None, None, False)
            return _Credentials(staff.id, staff.password_hash, staff.active)

    def identify(self, token: str) -> StaffIdentity:
        claims = self._tokens.decode(token, Audience.STAFF)
        with read_session(self._sessions) as session:
            staff = self._live_staff(session, claims.subject, claims.version, claims.extra)
            return StaffIdentity.of(staff)

    def logout(self, token: str) -> None:
        """End the session of `token`; a token that is no longer valid has nothing to end."""
        try:
            claims = self._tokens.decode(token, Audience.STAFF)
        except TokenError:
            return
        sid = claims.extra.get("sid")
        if isinstance(sid, str):
            with write_session(self._sessions) as session:
                session.execute(
                    delete(StaffSession).where(
                        StaffSession.id == sid, StaffSession.staff_id == _id_of(claims.subject)
                    )
                )

    def end_sessions(self, actor: StaffIdentity, staff_id: int) -> int:
        """An administrator ends every session of an account; the number ended."""
        actor.require(Role.ADMIN)
        with write_session(self._sessions) as session:
            if session.get(Staff, staff_id) is None:
                raise NotFound("no such staff member", field="staff_id")
            return end_all_sessions(session, staff_id)

    def set_active(self, actor: StaffIdentity, staff_id: int, active: bool) -> None:
        """An administrator (de)activates an account; deactivation ends its sessions at once."""
        actor.require(Role.ADMIN)
        with write_session(self._sessions) as session:
            staff = session.get(Staff, staff_id)
            if staff is None:
                raise NotFound("no such staff member", field="staff_id")
            staff.active = active
            if not active:
                end_all_sessions(session, staff_id)

    def agenda_mail(self, actor: StaffIdentity) -> bool:
        """Whether the staff member gets the day's agenda by e-mail."""
        with read_session(self._sessions) as session:
            staff = session.get(Staff, actor.id)
            return bool(staff and staff.agenda_mail)

    def set_agenda_mail(self, actor: StaffIdentity, wanted: bool) -> None:
        """Each staff member decides for themselves: it is their mailbox."""
        with write_session(self._sessions) as session:
            staff = session.get(Staff, actor.id)
            if staff is None:
                raise NotFound("no such staff member", field="staff_id")
            staff.agenda_mail = wanted

    def _live_staff(
        self, session: Session, subject: str, version: int, extra: Mapping[str, object]
    ) -> Staff:
        staff_id, sid = _id_of(subject), extra.get("sid")
        staff = session.get(Staff, staff_id) if staff_id is not None else None
        if staff is None or not staff.active or staff.token_version != version:
            raise TokenRevoked()
        live = session.get(StaffSession, sid) if isinstance(sid, str) else None
        if live is None or live.staff_id != staff.id or live.expires_at <= self._clock():
            raise TokenRevoked()
        return staff

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


def _id_of(subject: str) -> int | None:
    return int(subject) if subject.isascii() and subject.isdigit() else None


def end_all_sessions(session: Session, staff_id: int) -> int:
    ended = session.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))
    return int(getattr(ended, "rowcount", 0) or 0)
