"""The shape of the code, checked: dependencies flow one way (docs/architecture.md), product
modules stay small, and every type error silenced in the code mypy checks says why."""

from __future__ import annotations

import ast
import gc
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("scheduler", "notifications", "rooms", "signaling", "documents", "web")
# Which of our packages each package may import.
ALLOWED = {
    "scheduler": set(),
    "notifications": {"scheduler", "documents"},
    "rooms": {"scheduler"},
    "signaling": {"rooms"},
    "documents": {"scheduler"},
    "web": {"scheduler", "notifications", "rooms", "signaling", "documents"},
}
MAX_LINES = 500
IGNORE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[^\]]*\])?(?P<rest>.*)$")


def modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


def _parse(path: Path) -> ast.Module:
    # Python 3.11: a finalizer run by the collector in the middle of the parse that formats a
    # traceback (asyncio's "Task exception was never retrieved") parses source itself, and
    # this parse fails with "AST constructor recursion depth mismatch".
    enabled = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(path.read_text(), filename=str(path))
    finally:
        if enabled:
            gc.enable()


def imported_packages(path: Path) -> set[str]:
    tree = _parse(path)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_dependencies_flow_one_way(package):
    wrong = {
        f"{path.relative_to(ROOT)} imports {other}"
        for path in modules(package)
        for other in imported_packages(path) - ALLOWED[package] - {package}
    }
    assert wrong == set()


@pytest.mark.parametrize("package", PACKAGES)
def test_product_modules_stay_under_500_lines(package):
    long = {
        str(path.relative_to(ROOT)): lines
        for path in modules(package)
        if (lines := len(path.read_text().splitlines())) >= MAX_LINES
    }
    assert long == {}


@pytest.mark.parametrize("folder", [*PACKAGES, "bench"])
def test_every_silenced_type_error_names_its_code_and_reason(folder):
    bare = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            found = IGNORE.search(line)
            if found and (not found["codes"] or not found["rest"].strip().startswith("#")):
                bare.append(f"{path.relative_to(ROOT)}:{number}")
    assert bare == []
