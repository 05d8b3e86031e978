"""Translation catalogues, shared by every package that speaks to people.

The catalogues are gettext `.po` files read at start-up with Babel, so that a language is added
by adding its `.po` file: no compile step, no code change.
"""

from __future__ import annotations

import gettext
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po


def load_translations(path: Path) -> gettext.GNUTranslations:
    """A `.po` file as gettext translations (compiled in memory)."""
    with path.open("rb") as po:
        catalog = read_po(po)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)
