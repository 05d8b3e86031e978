"""The W3C Nu HTML checker (npm `vnu-jar`, tests/browser/package.json; needs `java`) on the
live DOM of pages: what the browser built, after our scripts and the ALTCHA widget ran."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

VNU = Path(__file__).parent / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"


def _java() -> str:
    java = shutil.which("java")
    if java is None or not VNU.exists():
        if os.environ.get("CI"):
            pytest.fail("the W3C checker needs java (Debian: default-jre-headless) and vnu-jar")
        pytest.skip("java or vnu-jar is missing")
    return java


def errors(documents: dict[str, str]) -> dict[str, list[str]]:
    """The checker's errors for each document (by a name of the caller's, e.g. its path),
    checked in one run of the checker."""
    if not documents:
        return {}
    java = _java()
    with tempfile.TemporaryDirectory() as folder:
        files = {}
        for number, (name, html) in enumerate(documents.items()):
            file = Path(folder) / f"{number}.html"
            file.write_text(html)
            files[file.name] = name
        result = subprocess.run(
            [
                java,
                "-jar",
                str(VNU),
                "--errors-only",
                "--format",
                "json",
                *map(str, Path(folder).iterdir()),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    # Exit status 1 means: errors found, listed as JSON on stderr.
    assert result.returncode in (0, 1), result.stderr
    found: dict[str, list[str]] = {}
    for message in json.loads(result.stderr)["messages"]:
        name = files.get(message.get("url", "").rpartition("/")[2], "?")
        found.setdefault(name, []).append(f"{message['message']} ({message.get('extract', '')})")
    return found
