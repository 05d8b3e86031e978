"""Translation catalogues, shared by every package that speaks to people.

The catalogues are gettext `.po` files read at start-up with Babel, so that a language is added
by adding its `.po` file: no compile step, no code change.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

# A file as the cache knows it: its path and the version on disk (mtime and size).
_Version = tuple[Path, int, int]


def load_catalogue(paths: Iterable[Path]) -> gettext.GNUTranslations:
    """`.po` files as one catalogue, the first file's translation of a text winning.

    Read once per process and version of the files, and shared by every caller (an app and its
    mail renderers, and the many apps of a test run): nobody may change it (`add_fallback`).
    """
    versions = []
    for path in paths:
        stat = path.stat()
        versions.append((path, stat.st_mtime_ns, stat.st_size))
    return _catalogue(tuple(versions))


@lru_cache(maxsize=64)
def _catalogue(files: tuple[_Version, ...]) -> gettext.GNUTranslations:
    first, *rest = (gettext.GNUTranslations(BytesIO(_compiled(path))) for path, _, _ in files)
    for more in rest:
        first.add_fallback(more)
    return first


def _compiled(path: Path) -> bytes:
    with path.open("rb") as po:
        catalog = read_po(po)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()
