"""Keep every WebRTC packet of a test on loopback.

aioice gathers host candidates from the machine's interfaces and leaves 127.0.0.1 out, so an
aiortc peer would otherwise send its connectivity checks to this machine's own network address.
"""

from __future__ import annotations

import aioice.ice
import pytest

LOOPBACK = "127.0.0.1"


def loopback_host_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        aioice.ice,
        "get_host_addresses",
        lambda use_ipv4, use_ipv6: [LOOPBACK] if use_ipv4 else [],
    )
