"""Fixtures of the documents' tests (issue 14)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.documents.clamd import CLAMD, Clamd, running_clamd


@pytest.fixture(scope="module")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clamd]:
    """A real clamd on a unix socket with our own tiny signature database, for one test module;
    see tests/documents/clamd.py. Skipped without /usr/sbin/clamd, except in CI. A test that
    stops it starts it again before it ends."""
    if not CLAMD.exists():
        reason = f"needs {CLAMD} (apt-get install clamav-daemon)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with running_clamd(tmp_path_factory.mktemp("clamd")) as server:
        yield server
