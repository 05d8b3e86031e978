"""The key under which the open bookings of one e-mail address are counted (the cap
`max_open_bookings_per_email`).

One person can write the same mailbox in many ways: `Erika@Example.org`, `erika+1@example.org`,
`ｅｒｉｋａ@example.org` (full-width letters), `erikа@example.org` (a Cyrillic `а`),
`e.rika@gmail.com`. Each would otherwise count apart and let one mailbox take a service's
whole calendar. The address as typed is kept for mail; only the key is folded, and every
entry point (citizens' API, booking pages, staff API, hotline desk) gets it from here through
`BookingRequest.email_key`.

The choices, in order:
- NFKC (Unicode normalization form KC, UAX #15) folds full-width and other compatibility
  forms to their plain letters; characters that print as nothing (zero-width space and
  joiners, soft hyphen, BOM) are dropped.
- Look-alikes are folded, not refused: Cyrillic and Greek letters that look like Latin ones
  become the Latin letter (after the skeleton idea of UTS #39, for the letters that matter in
  addresses). Refusing them would refuse real internationalized addresses (RFC 6531); folding
  only means that a real `иван@…` shares its count with a Latin look-alike, which costs nobody
  an appointment.
- Case-folding (`str.casefold`): mailbox names are case-insensitive at every provider we know.
- The domain in IDNA form (RFC 5891, punycode), so `bücher.example` and
  `xn--bcher-kva.example` are one domain.
- Sub-addresses are dropped: `local+tag` is delivered to `local` (RFC 5233, supported by most
  providers), so the tag is no new mailbox.
- Dots are dropped only for Gmail (`gmail.com`, `googlemail.com`, one mailbox): Gmail ignores
  them, while elsewhere `e.rika` and `erika` may be two people.
"""

from __future__ import annotations

import unicodedata

# Letters of other scripts drawn like Latin ones (Unicode confusables.txt, the lower-case
# letters that occur in addresses after case folding).
_LOOK_ALIKES = str.maketrans(
    {
        # Cyrillic
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "һ": "h",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "к": "k",
        "ӏ": "l",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "ԛ": "q",
        "ѕ": "s",
        "т": "t",
        "с": "c",
        "у": "y",
        "ѵ": "v",
        "ԝ": "w",
        "х": "x",
        "ԁ": "d",
        "ɡ": "g",
        # Greek
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "ω": "w",
    }
)
# Format characters that print as nothing, so that an address with one looks the same.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u180e\u200b\u200c\u200d\u2060\ufeff"))
_GMAIL = {"gmail.com", "googlemail.com"}


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    # Folding case before the look-alikes covers the capitals (`А` -> `а` -> `a`).
    return text.casefold().translate(_LOOK_ALIKES)


def _ascii_domain(domain: str) -> str:
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain  # not a valid IDN: the folded text is still one stable key


def cap_key(email: str) -> str:
    """The key of `email` for counting one person's open bookings (see the module docstring)."""
    local, at, domain = _fold(email.strip()).rpartition("@")
    if not at:  # not an address at all: the booking's validation refuses it elsewhere
        return _fold(email.strip())
    local = local.partition("+")[0] or local
    domain = _ascii_domain(domain.rstrip("."))
    if domain in _GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"
