"""Translation catalogues, shared by every package that speaks to people.

The catalogues are gettext `.po` files read at start-up with Babel, so that a language is added
by adding its `.po` file: no compile step, no code change.
"""

from __future__ import annotations

import gettext
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po


def load_translations(path: Path) -> gettext.GNUTranslations:
    """A `.po` file as gettext translations (compiled in memory). A new object each time:
    callers chain catalogues with `add_fallback`, which changes the object."""
    stat = path.stat()
    return gettext.GNUTranslations(BytesIO(_compiled(path, stat.st_mtime_ns, stat.st_size)))


@lru_cache(maxsize=256)
def _compiled(path: Path, mtime_ns: int, size: int) -> bytes:
    """Compiled once per process and version of the file: parsing is most of an app's
    start-up, and a process that builds many apps (a test run) would pay it each time."""
    with path.open("rb") as po:
        catalog = read_po(po)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()
