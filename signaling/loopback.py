"""Keep an aiortc peer's host candidates on 127.0.0.1, for checking a server on this very machine.

aioice gathers host candidates from the machine's interfaces and leaves 127.0.0.1 out, so two
peers on one machine would send their connectivity checks to its network address instead of
staying on loopback. The same patch as tests/rtc.py, for the probe's own process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import aioice.ice

LOOPBACK = "127.0.0.1"


def _loopback_only(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return [LOOPBACK] if use_ipv4 else []


@contextmanager
def loopback_host_candidates() -> Iterator[None]:
    """While inside, every aiortc peer of this process gathers only 127.0.0.1 as host address."""
    original = aioice.ice.get_host_addresses
    aioice.ice.get_host_addresses = _loopback_only
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = original
