"""compose.yaml, the city's deployment: it trusts only its own proxy and coturn relays to no
address inside the host or its networks."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
import yaml

from web.settings import Settings

COMPOSE = Path(__file__).resolve().parent.parent / "compose.yaml"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# What a relay must never reach: the host itself, "this network", the cloud's metadata
# service, the private networks, and IPv6's loopback, unique local and link-local addresses.
MUST_BE_DENIED = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
    "::ffff:0:0/96",  # IPv4-mapped: 127.0.0.1 again, in IPv6 clothes
]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def denied_ranges(compose: dict[str, Any]) -> list[tuple[IPAddress, IPAddress]]:
    """coturn's --denied-peer-ip options: an address or a range `first-last`."""
    options = [str(o) for o in compose["services"]["coturn"]["command"]]
    ranges = []
    for option in options:
        if option.startswith("--denied-peer-ip="):
            value = option.split("=", 1)[1]
            first, _, last = value.partition("-")
            ranges.append((ipaddress.ip_address(first), ipaddress.ip_address(last or first)))
    return ranges


def covered(network: IPNetwork, ranges: list[tuple[IPAddress, IPAddress]]) -> bool:
    return any(
        first.version == network.version
        and first <= network.network_address  # type: ignore[operator]
        and network.broadcast_address <= last  # type: ignore[operator]
        for first, last in ranges
    )


@pytest.mark.parametrize("network", MUST_BE_DENIED)
def test_coturn_relays_to_no_internal_address(compose, network):
    assert covered(ipaddress.ip_network(network), denied_ranges(compose)), network


def test_coturn_relays_to_no_multicast_address(compose):
    assert "--no-multicast-peers" in compose["services"]["coturn"]["command"]


def test_the_app_trusts_only_the_proxys_own_address(compose):
    trusted = str(compose["x-app"]["environment"]["SPRECHSTUNDE_TRUSTED_PROXIES"])
    proxy = compose["services"]["proxy"]["networks"]["default"]["ipv4_address"]
    subnets = [entry["subnet"] for entry in compose["networks"]["default"]["ipam"]["config"]]

    assert trusted.split(",") == [proxy]
    assert any(ipaddress.ip_address(proxy) in ipaddress.ip_network(s) for s in subnets)


def test_the_app_runs_in_production_and_its_settings_pass_productions_checks(compose):
    environment = compose["x-app"]["environment"]
    assert environment["SPRECHSTUNDE_ENV"] == "production"
    # The values compose itself sets, with an operator's .env filled in.
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        env="production",
        secret_key="q3V9kz0tWcX8m1HfYp2LrB7sNdJ4uGaE6yTiK5oZ-Qw_MhSlCvUxRbn8eP1jFgA3",
        base_url="https://termine.example.org",
        smtp_host="mail.example.org",
        trusted_proxies=environment["SPRECHSTUNDE_TRUSTED_PROXIES"],
    )
    assert settings.trusted_proxies == ["172.30.0.10"]


def test_the_image_asks_for_production():
    dockerfile = (COMPOSE.parent / "Dockerfile").read_text()
    assert "ENV SPRECHSTUNDE_ENV=production" in dockerfile


def test_documents_are_kept_in_the_shared_database_and_scanned_by_clamd(compose) -> None:
    # Several app instances: a directory of one of them would hide documents from the others.
    for name in ("app1", "app2", "worker"):
        environment = compose["services"][name]["environment"]
        assert environment["SPRECHSTUNDE_DOCUMENT_STORE"] == "database"
        host = environment["SPRECHSTUNDE_CLAMAV_URL"].removeprefix("tcp://").split(":")[0]
        # Not a dependency: the app serves without clamd, and documents wait until it answers.
        assert compose["services"][host]["image"].startswith("clamav/clamav:")
