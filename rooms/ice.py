"""The ICE servers a room page hands to `RTCPeerConnection`, with time-limited TURN credentials.

TURN credentials follow the TURN REST API (draft-uberti-behave-turn-rest-00 section 2.2), which
coturn implements as `use-auth-secret`: the username is `<unix expiry>:<participant>` and the
password is base64(HMAC-SHA1(shared secret, username)). coturn recomputes the password from the
username alone, so nothing is stored per participant, and a leaked credential stops working at
its expiry without any revocation list.

No server is configured by default, not even a public STUN server: asking Google's STUN server
for a reflexive address tells Google who is in a consultation and when.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

# coturn's `rest-api-separator`: the username is split at its first occurrence.
SEPARATOR = ":"


@dataclass(frozen=True, slots=True)
class IceServer:
    """One entry of `RTCConfiguration.iceServers` (W3C webrtc-pc, the RTCIceServer dictionary)."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def as_dict(self) -> dict[str, object]:
        server: dict[str, object] = {"urls": list(self.urls)}
        if self.username is not None:
            server["username"] = self.username
        if self.credential is not None:
            server["credential"] = self.credential
        return server


@dataclass(frozen=True, slots=True)
class IceConfig:
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = None
    # Long enough for a consultation that overruns; a page reloaded later fetches new ones.
    turn_ttl: timedelta = timedelta(hours=2)

    def __post_init__(self) -> None:
        if self.turn_ttl <= timedelta(0):
            raise ValueError("turn_ttl must be positive")


def turn_credentials(secret: str, participant: str, expires: datetime) -> tuple[str, str]:
    """TURN REST API (draft-uberti-behave-turn-rest, coturn `use-auth-secret`): username =
    f"{unix expiry}:{participant}", credential = base64(HMAC-SHA1(secret, username)).

    `participant` is an opaque id that ends up in the TURN server's logs, so never a name or
    an e-mail address; it must not contain ":", which would make the username ambiguous.
    """
    _check_participant(participant)
    if expires.tzinfo is None:
        # A naive datetime would be read as the server's local time: off by hours.
        raise ValueError("expires must be timezone-aware")
    username = f"{int(expires.timestamp())}{SEPARATOR}{participant}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def _check_participant(participant: str) -> None:
    # Refused rather than stripped: stripping could give two participants the same username.
    if SEPARATOR in participant:
        raise ValueError(f"participant id must not contain {SEPARATOR!r}: {participant!r}")


class IceServers:
    """Hands out the ICE servers for one participant, TURN credentials freshly minted."""

    def __init__(self, config: IceConfig, clock: Callable[[], datetime]) -> None:
        self._config = config
        self._clock = clock

    def for_participant(self, participant: str) -> list[IceServer]:
        # Checked even without TURN, so a bad id fails in development, not first in production.
        _check_participant(participant)
        config = self._config
        servers: list[IceServer] = []
        if config.stun_urls:
            servers.append(IceServer(urls=config.stun_urls))
        if config.turn_urls and config.turn_secret:
            username, credential = turn_credentials(
                config.turn_secret, participant, self._clock() + config.turn_ttl
            )
            servers.append(IceServer(config.turn_urls, username, credential))
        return servers
