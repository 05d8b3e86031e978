"""The references citizens read out on the phone: a booking's `ABCD-EFGH`, a callback's
`RABC-DEFG`."""

from __future__ import annotations

import secrets

REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read out on the phone


def reference_chars(count: int) -> str:
    """`count` characters of REFERENCE_ALPHABET, uniformly drawn. Its 32 characters take five
    random bits each, so one draw serves them all: a draw per character asks the system for
    randomness twice on average, each time letting go of the interpreter lock."""
    bits = secrets.randbits(5 * count)
    return "".join(REFERENCE_ALPHABET[(bits >> (5 * i)) & 31] for i in range(count))


def new_reference() -> str:
    chars = reference_chars(8)
    return f"{chars[:4]}-{chars[4:]}"
