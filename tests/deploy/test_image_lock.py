"""The image (Dockerfile) installs its dependencies from requirements.lock and holds every
package of the project: each runtime dependency of pyproject.toml is pinned there to a release
its range admits, and each of the project's top-level packages is copied in."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([0-9][A-Za-z0-9.+\-]*)", line.strip())
        assert match, f"not a pin: {line!r}"
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def _project() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_runtime_dependency_is_pinned_within_its_range():
    pins = _pins()
    for line in _project()["project"]["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (name, pins[name])


def test_the_image_installs_from_the_lock_and_copies_every_package():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir --no-deps -r requirements.lock" in dockerfile
    assert "pip install --no-cache-dir --no-deps ." in dockerfile
    patterns = _project()["tool"]["setuptools"]["packages"]["find"]["include"]
    for pattern in patterns:
        package = pattern.rstrip("*")
        assert (ROOT / package / "__init__.py").exists(), package
        assert f"COPY {package} {package}" in dockerfile, f"the image lacks {package}/"


def test_the_image_runs_as_a_user_and_checks_its_health():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*\n.*/readyz", dockerfile, re.MULTILINE)
    base = re.search(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert base
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim", base[1]), base[1]
