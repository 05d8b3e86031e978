"""A floor under the strength of the keys production accepts (secret keys, the TURN secret).

Whoever holds a signing key can mint any token, an administrator's included, so a guessable
key is a hole of its own. A key's true entropy cannot be measured from the key; what can be
measured is how little a key offers at most. The estimate is the key's length times the
Shannon entropy of its characters' frequencies: `a` × 32 gives 0 bits, `ab` × 16 gives 32,
a key from `secrets.token_urlsafe(48)` about 330. It catches repeated characters and tiny
alphabets, not a long key that is guessable for other reasons (a sentence from a manual):
that is what the advice to generate keys is for.
"""

from __future__ import annotations

import math
from collections import Counter

MIN_LENGTH = 32
MIN_BITS = 128
ADVICE = 'make one with: python -c "import secrets; print(secrets.token_urlsafe(48))"'


def estimated_bits(key: str) -> float:
    """At most how many bits of entropy `key` holds, judged by its characters' frequencies."""
    if not key:
        return 0.0
    counts = Counter(key).values()
    per_character = -sum(n / len(key) * math.log2(n / len(key)) for n in counts)
    return per_character * len(key)


def weakness(key: str, public: tuple[str, ...] = ()) -> str | None:
    """Why `key` is too weak to sign or authenticate anything in production, or None.

    `public` lists keys that are published (in this repository) and so known to everyone.
    The answer never repeats the key: it ends up in logs.
    """
    if key in public:
        return "is the published development key"
    if len(key) < MIN_LENGTH:
        return f"has {len(key)} characters, fewer than {MIN_LENGTH}"
    bits = estimated_bits(key)
    if bits < MIN_BITS:
        return f"is too regular (about {bits:.0f} bits of entropy, fewer than {MIN_BITS})"
    return None
