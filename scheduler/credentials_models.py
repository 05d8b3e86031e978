"""Tables of the staff's credentials beyond the password (scheduler/credentials.py): the second
factor, its recovery codes, password reset links, the step between password and code, and the
roles that must use a second factor."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.db import Base, UTCDateTime


class SecondFactor(Base):
    """A staff member's TOTP secret; live once confirmed with a first code."""

    __tablename__ = "staff_second_factors"

    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True
    )
    # Base32, as the authenticator app got it; never logged, never shown again after enrolment.
    secret: Mapped[str] = mapped_column(String(64))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last 30-second step accepted: a code of that step or an earlier one is a replay.
    last_step: Mapped[int] = mapped_column(default=0)


class RecoveryCode(Base):
    __tablename__ = "staff_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    # SHA-256 of a random code of 50 bits: guessing is throttled like the login.
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PasswordReset(Base):
    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the link's secret: a copy of the database opens no account.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginChallenge(Base):
    """A password step passed: the browser holds its secret until the code (or the enrolment
    that the role demands) completes the login."""

    __tablename__ = "login_challenges"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    enrol: Mapped[bool] = mapped_column(default=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class SecondFactorRole(Base):
    """A role listed here logs in with a second factor only."""

    __tablename__ = "second_factor_roles"

    role: Mapped[str] = mapped_column(String(16), primary_key=True)
