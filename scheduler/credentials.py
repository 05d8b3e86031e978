"""Staff credentials beyond the login itself: changing the password, resetting a forgotten one
through a single-use link that expires, a second factor (TOTP, RFC 6238: 30 s, 6 digits,
SHA-1, one step either side) with single-use recovery codes, the roles that must use one, and
an administrator's view of a person's sessions.

`Credentials` is the `gate` of `Accounts.login`: after the password it asks for the code, or
stops a person whose role demands a second factor until one is enrolled. A page keeps the
passed password step as a `LoginChallenge`, so the password is never carried to the next step.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from scheduler.accounts import Accounts, StaffIdentity, hash_password, verify_password
from scheduler.credentials_models import (
    LoginChallenge,
    PasswordReset,
    RecoveryCode,
    SecondFactor,
    SecondFactorRole,
)
from scheduler.db import read_session, utcnow, write_session
from scheduler.errors import AuthenticationFailed, InvalidRequest, NotFound
from scheduler.models import AuditEntry, LoginFailure, Role, Staff, StaffSession
from scheduler.tokens import Audience, TokenService

RESET_LIFETIME = timedelta(hours=1)
# Links mailed to one person within a lifetime; a further request sends nothing.
RESETS_PER_LIFETIME = 3
CHALLENGE_LIFETIME = timedelta(minutes=10)
RECOVERY_CODES = 10
STEP_SECONDS = 30
ISSUER = "Sprechstunde"
# Without 0/1/8/9-like look-alikes: a recovery code is typed from paper.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _normal_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


@dataclass(frozen=True, slots=True)
class ResetRequested:
    """A reset link to mail; `secret` exists only in this event and in the mail."""

    staff_id: int
    email: str
    secret: str
    at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str
    uri: str


@dataclass(frozen=True, slots=True)
class Challenge:
    staff_id: int
    email: str
    enrol: bool


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    created_at: datetime
    expires_at: datetime


class Credentials:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        accounts: Accounts,
        tokens: TokenService,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._accounts = accounts
        self._tokens = tokens
        self._clock = clock
        # Called in the transaction of a reset request (notifications/credential_mail.py).
        self.reset_listeners: list[Callable[[Session, ResetRequested], None]] = []
        accounts.gate = self.admit

    # -- the login's second step -------------------------------------------------------------

    def admit(self, session: Session, staff: Staff, code: str | None, now: datetime) -> None:
        factor = session.get(SecondFactor, staff.id)
        if factor is None or factor.confirmed_at is None:
            if session.get(SecondFactorRole, staff.role) is not None:
                raise AuthenticationFailed(code="second_factor_enrolment_required")
            return
        if not code:
            raise AuthenticationFailed(code="second_factor_required")
        if not self._passes(session, factor, code, now):
            raise AuthenticationFailed(code="second_factor_invalid")
        _audit(session, now, staff.id, "second_factor_login")

    def _passes(self, session: Session, factor: SecondFactor, code: str, now: datetime) -> bool:
        code = _normal_code(code)
        if len(code) == 6 and code.isascii() and code.isdigit():
            step = _step_at(factor.secret, code, now)
            if step is None or step <= factor.last_step:
                return False  # wrong, or a code already used: a replay
            factor.last_step = step
            return True
        used = session.scalar(
            select(RecoveryCode).where(
                RecoveryCode.staff_id == factor.staff_id,
                RecoveryCode.code_hash == _digest(code),
                RecoveryCode.used_at.is_(None),
            )
        )
        if used is None:
            return False
        used.used_at = now
        _audit(session, now, factor.staff_id, "recovery_code_used")
        return True

    def challenge(self, email: str, enrol: bool) -> str:
        """The secret of a passed password step, for the browser to hold until the code."""
        secret, now = secrets.token_urlsafe(32), self._clock()
        with write_session(self._sessions) as session:
            staff = session.scalar(select(Staff).where(Staff.email == email.strip().lower()))
            if staff is None:
                raise NotFound("no such staff member", field="email")
            session.execute(delete(LoginChallenge).where(LoginChallenge.expires_at <= now))
            session.add(
                LoginChallenge(
                    token_hash=_digest(secret),
                    staff_id=staff.id,
                    enrol=enrol,
                    expires_at=now + CHALLENGE_LIFETIME,
                )
            )
        return secret

    def challenged(self, secret: str) -> Challenge | None:
        with read_session(self._sessions) as session:
            row = session.get(LoginChallenge, _digest(secret))
            staff = session.get(Staff, row.staff_id) if row is not None else None
            if row is None or staff is None or row.expires_at <= self._clock():
                return None
            return Challenge(staff.id, staff.email, row.enrol)

    def complete(self, secret: str, code: str, address: str) -> str:
        """The second step: the code (or a recovery code) ends the challenge in a session."""
        challenge = self.challenged(secret)
        if challenge is None or challenge.enrol:
            raise AuthenticationFailed(code="login_challenge_expired")
        now = self._clock()
        attempt = self._accounts.count_attempt(challenge.email, address, now)
        with write_session(self._sessions) as session:
            staff = session.get(Staff, challenge.staff_id)
            if staff is None or not staff.active:
                raise AuthenticationFailed()
            self.admit(session, staff, code, now)
            return self._finish(session, staff, secret, attempt, address, now)

    def _finish(
        self, session: Session, staff: Staff, secret: str, attempt: int, address: str, now: datetime
    ) -> str:
        session.execute(delete(LoginChallenge).where(LoginChallenge.token_hash == _digest(secret)))
        session.execute(delete(LoginFailure).where(LoginFailure.id == attempt))
        return self._accounts.open_session(session, staff, address, now)

    # -- enrolment ---------------------------------------------------------------------------

    def enrolled(self, staff_id: int) -> bool:
        with read_session(self._sessions) as session:
            factor = session.get(SecondFactor, staff_id)
            return factor is not None and factor.confirmed_at is not None

    def start_enrolment(self, staff_id: int) -> Enrolment:
        """A secret to enrol, the same until confirmed (a reload must not invalidate the app's
        entry); an enrolled factor is replaced only once the new one is confirmed."""
        with write_session(self._sessions) as session:
            staff = session.get(Staff, staff_id)
            if staff is None:
                raise NotFound("no such staff member", field="staff_id")
            factor = session.get(SecondFactor, staff_id)
            if factor is None:
                factor = SecondFactor(staff_id=staff_id, secret=pyotp.random_base32(), last_step=0)
                session.add(factor)
            elif factor.confirmed_at is not None:
                raise InvalidRequest("already enrolled", code="second_factor_enrolled")
            uri = pyotp.TOTP(factor.secret).provisioning_uri(name=staff.email, issuer_name=ISSUER)
            return Enrolment(factor.secret, uri)

    def confirm_enrolment(self, staff_id: int, code: str) -> list[str]:
        """The first code makes the factor live; the recovery codes, shown this once."""
        now = self._clock()
        with write_session(self._sessions) as session:
            factor = session.get(SecondFactor, staff_id)
            if factor is None or factor.confirmed_at is not None:
                raise InvalidRequest("nothing to confirm", code="second_factor_enrolled")
            normal = _normal_code(code)
            step = _step_at(factor.secret, normal, now) if len(normal) == 6 else None
            if step is None:
                raise InvalidRequest("wrong code", field="code", code="second_factor_invalid")
            factor.confirmed_at, factor.last_step = now, step
            codes = _new_recovery_codes(session, staff_id)
            _audit(session, now, staff_id, "second_factor_enrolled")
            return codes

    def complete_enrolment(self, secret: str, code: str, address: str) -> tuple[str, list[str]]:
        """Enrolment demanded by the role right after the password: confirm, then log in."""
        challenge = self.challenged(secret)
        if challenge is None or not challenge.enrol:
            raise AuthenticationFailed(code="login_challenge_expired")
        now = self._clock()
        attempt = self._accounts.count_attempt(challenge.email, address, now)
        codes = self.confirm_enrolment(challenge.staff_id, code)
        with write_session(self._sessions) as session:
            staff = session.get(Staff, challenge.staff_id)
            if staff is None or not staff.active:
                raise AuthenticationFailed()
            return self._finish(session, staff, secret, attempt, address, now), codes

    def remove_factor(self, actor: StaffIdentity, staff_id: int) -> None:
        """An administrator removes a lost factor; the person enrols anew at the next login
        if the role demands it. Their sessions end: whoever has the phone is out too."""
        actor.require(Role.ADMIN)
        now = self._clock()
        with write_session(self._sessions) as session:
            if session.get(Staff, staff_id) is None:
                raise NotFound("no such staff member", field="staff_id")
            session.execute(delete(SecondFactor).where(SecondFactor.staff_id == staff_id))
            session.execute(delete(RecoveryCode).where(RecoveryCode.staff_id == staff_id))
            session.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))
            _audit(session, now, actor.id, "second_factor_removed", f"staff {staff_id}")

    # -- roles that must use a second factor -------------------------------------------------

    def required_roles(self) -> set[Role]:
        with read_session(self._sessions) as session:
            return {Role(r) for r in session.scalars(select(SecondFactorRole.role))}

    def require_for(self, actor: StaffIdentity, roles: Iterable[Role]) -> None:
        actor.require(Role.ADMIN)
        wanted = sorted({Role(r).value for r in roles})
        with write_session(self._sessions) as session:
            session.execute(delete(SecondFactorRole))
            session.add_all(SecondFactorRole(role=r) for r in wanted)
            _audit(session, self._clock(), actor.id, "second_factor_roles", ",".join(wanted))

    # -- passwords ---------------------------------------------------------------------------

    def change_password(self, actor: StaffIdentity, token: str, current: str, new: str) -> None:
        """The current password proves it is the person; every other session of theirs ends."""
        with read_session(self._sessions) as session:
            staff = session.get(Staff, actor.id)
            old_hash = staff.password_hash if staff is not None else None
        if not verify_password(old_hash, current):
            raise InvalidRequest(
                "wrong password", field="current_password", code="current_password_wrong"
            )
        new_hash = hash_password(new, (actor.email, actor.name))
        keep = self._tokens.decode(token, Audience.STAFF).extra.get("sid")
        now = self._clock()
        with write_session(self._sessions) as session:
            staff = session.get(Staff, actor.id)
            if staff is None or staff.password_hash != old_hash:
                raise InvalidRequest(
                    "changed meanwhile", field="current_password", code="current_password_wrong"
                )
            staff.password_hash = new_hash
            session.execute(
                delete(StaffSession).where(
                    StaffSession.staff_id == actor.id, StaffSession.id != str(keep)
                )
            )
            _audit(session, now, actor.id, "password_changed")

    def request_reset(self, email: str) -> None:
        """Mail a reset link to the address if it belongs to an active account; the caller
        answers the same either way, so the form tells nobody which addresses exist."""
        now = self._clock()
        with write_session(self._sessions) as session:
            staff = session.scalar(select(Staff).where(Staff.email == email.strip().lower()))
            if staff is None or not staff.active:
                return
            recent = select(func.count()).where(
                PasswordReset.staff_id == staff.id, PasswordReset.created_at > now - RESET_LIFETIME
            )
            if (session.scalar(recent) or 0) >= RESETS_PER_LIFETIME:
                return  # nobody fills a mailbox with links through this form
            secret = secrets.token_urlsafe(32)
            # One live link per person: the newest mail is the one that works.
            session.execute(
                update(PasswordReset)
                .where(PasswordReset.staff_id == staff.id, PasswordReset.used_at.is_(None))
                .values(used_at=now)
            )
            session.add(
                PasswordReset(
                    staff_id=staff.id,
                    token_hash=_digest(secret),
                    created_at=now,
                    expires_at=now + RESET_LIFETIME,
                )
            )
            _audit(session, now, staff.id, "password_reset_requested")
            event = ResetRequested(staff.id, staff.email, secret, now, now + RESET_LIFETIME)
            for listener in self.reset_listeners:
                listener(session, event)

    def reset_usable(self, secret: str) -> bool:
        with read_session(self._sessions) as session:
            return self._live_reset(session, secret) is not None

    def reset_password(self, secret: str, new: str) -> None:
        """Set the new password through the link: once, in time; every session ends."""
        with read_session(self._sessions) as session:
            reset = self._live_reset(session, secret)
            staff = session.get(Staff, reset.staff_id) if reset is not None else None
            inputs = (staff.email, staff.name) if staff is not None else ()
        if reset is None or staff is None:
            raise InvalidRequest("link used or expired", code="reset_link_invalid")
        new_hash = hash_password(new, inputs)
        now = self._clock()
        with write_session(self._sessions) as session:
            live = self._live_reset(session, secret)
            staff = session.get(Staff, live.staff_id) if live is not None else None
            if live is None or staff is None:
                raise InvalidRequest("link used or expired", code="reset_link_invalid")
            live.used_at = now
            staff.password_hash = new_hash
            session.execute(delete(StaffSession).where(StaffSession.staff_id == staff.id))
            _audit(session, now, staff.id, "password_reset")

    def _live_reset(self, session: Session, secret: str) -> PasswordReset | None:
        reset = session.scalar(
            select(PasswordReset).where(PasswordReset.token_hash == _digest(secret))
        )
        if reset is None or reset.used_at is not None or reset.expires_at <= self._clock():
            return None
        return reset

    # -- sessions ----------------------------------------------------------------------------

    def sessions_of(self, actor: StaffIdentity, staff_id: int) -> tuple[Staff, list[SessionInfo]]:
        actor.require(Role.ADMIN)
        now = self._clock()
        with read_session(self._sessions) as session:
            staff = session.get(Staff, staff_id)
            if staff is None:
                raise NotFound("no such staff member", field="staff_id")
            rows = session.scalars(
                select(StaffSession)
                .where(StaffSession.staff_id == staff_id, StaffSession.expires_at > now)
                .order_by(StaffSession.created_at)
            )
            return staff, [SessionInfo(r.id, r.created_at, r.expires_at) for r in rows]

    def end_session(self, actor: StaffIdentity, staff_id: int, sid: str) -> None:
        actor.require(Role.ADMIN)
        with write_session(self._sessions) as session:
            session.execute(
                delete(StaffSession).where(
                    StaffSession.id == sid, StaffSession.staff_id == staff_id
                )
            )
            _audit(session, self._clock(), actor.id, "session_ended", f"staff {staff_id}")


def _step_at(secret: str, code: str, now: datetime) -> int | None:
    """The time step, within one of `now`, whose code `code` is; None if none."""
    totp, current = pyotp.TOTP(secret), int(now.timestamp()) // STEP_SECONDS
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def _new_recovery_codes(session: Session, staff_id: int) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.staff_id == staff_id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        session.add(RecoveryCode(staff_id=staff_id, code_hash=_digest(raw)))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def _audit(session: Session, now: datetime, actor_id: int, action: str, detail: str = "") -> None:
    session.add(AuditEntry(at=now, actor_id=actor_id, action=action, detail=detail))
