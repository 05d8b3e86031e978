"""The room tests' fixtures (`coturn`, `loopback_ice`) are in tests/conftest.py, shared with
tests/e2e; coturn's helpers are in tests/turn.py.

test_turn.py imports `HOST` and `Coturn` from here: re-exported until it imports tests.turn.
"""

from __future__ import annotations

from tests.turn import HOST, Coturn

__all__ = ["HOST", "Coturn"]
