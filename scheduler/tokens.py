"""Signed tokens (JWT, RFC 7519) for magic links, room joins and staff sessions.

Every token kind has its own audience, so a join link can never be used to manage a booking
and a citizen's link never opens a staff API. The algorithm is pinned (HS256), `exp`, `iat`,
`iss`, `aud`, `sub` and `ver` are required on decode, and the header names the key (`kid`)
so the secret can be rotated: tokens signed with a previous key stay valid while that key is
still configured. `ver` ties a token to a version stored with its subject, so raising the
stored version revokes every token issued before.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import jwt

from scheduler.errors import TokenExpired, TokenInvalid

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "ver"]
REGISTERED = frozenset(REQUIRED_CLAIMS)


class Audience(StrEnum):
    MANAGE = "sprechstunde:booking"
    JOIN = "sprechstunde:join"
    STAFF = "sprechstunde:staff"
    FEED = "sprechstunde:feed"
    ROOM = "sprechstunde:room"
    INVITE = "sprechstunde:room-invite"
    WAITLIST = "sprechstunde:waitlist"
    OFFER = "sprechstunde:offer"
    CALLBACK = "sprechstunde:callback"
    EMAIL_CHANGE = "sprechstunde:email-change"


@dataclass(frozen=True, slots=True)
class Claims:
    subject: str
    version: int
    expires_at: datetime
    # Claims beyond the registered ones, as the issuer gave them (e.g. a room ticket's role).
    extra: Mapping[str, object] = field(default_factory=dict)


def _derive(secret: str) -> tuple[str, bytes]:
    key = hmac.new(secret.encode(), b"sprechstunde token signing", hashlib.sha256).digest()
    return hashlib.sha256(key).hexdigest()[:12], key


class TokenService:
    """Issues and checks tokens; `secrets[0]` signs, all of them verify."""

    def __init__(
        self,
        secrets: Sequence[str],
        issuer: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not secrets:
            raise ValueError("at least one secret is required")
        self._keys = dict(_derive(secret) for secret in secrets)
        self._current_kid = _derive(secrets[0])[0]
        self._issuer = issuer
        self._clock = clock  # the clock tokens are issued with also decides their expiry

    def issue(
        self,
        audience: Audience,
        subject: str,
        version: int,
        now: datetime,
        lifetime: timedelta,
        extra: Mapping[str, object] | None = None,
    ) -> str:
        claims: dict[str, object] = {**(extra or {})}
        claims |= {
            "iss": self._issuer,
            "aud": audience.value,
            "sub": subject,
            "ver": version,
            "iat": int(now.timestamp()),
            "exp": int((now + lifetime).timestamp()),
        }
        key = self._keys[self._current_kid]
        return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": self._current_kid})

    def decode(self, token: str, audience: Audience) -> Claims:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._keys.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise TokenInvalid("unknown key id")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=audience.value,
                issuer=self._issuer,
                options={"require": REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise TokenInvalid(str(exc)) from exc
        version, issued, expires = claims["ver"], claims["iat"], claims["exp"]
        if not all(type(v) is int for v in (version, issued, expires)) or not isinstance(
            claims["sub"], str
        ):
            raise TokenInvalid("malformed claims")
        now = self._clock().timestamp()
        if issued > now:
            raise TokenInvalid("issued in the future")
        if expires <= now:
            raise TokenExpired()
        expires_at = datetime.fromtimestamp(claims["exp"], UTC)
        extra = {k: v for k, v in claims.items() if k not in REGISTERED}
        return Claims(subject=claims["sub"], version=version, expires_at=expires_at, extra=extra)
