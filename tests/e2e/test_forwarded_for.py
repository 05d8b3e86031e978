"""Which client address a real server sees behind its trusted proxy (loopback, the default):
the right-most address in X-Forwarded-For that is no trusted proxy, so that what a client
writes into the header itself, left of what the proxy appended, is never taken."""

from __future__ import annotations

import time
import uuid

import httpx

from bench.common import Server


def seen_as(server: Server, http: httpx.Client, forwarded_for: str) -> str:
    """The client address in the access-log line of a request with this X-Forwarded-For."""
    sentinel = uuid.uuid4().hex
    http.get("/healthz", params={"probe": sentinel}, headers={"X-Forwarded-For": forwarded_for})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in server.log().splitlines():
            if sentinel in line:
                return line.split(" - ", 1)[0].rsplit(":", 1)[0].split()[-1]
        time.sleep(0.05)
    raise AssertionError(f"no access-log line for the request:\n{server.log()[-5000:]}")


def test_a_client_cannot_choose_its_address_by_prepending_one(server, http):
    # The client sent "203.0.113.9"; the proxy appended the address it saw, 198.51.100.7.
    assert seen_as(server, http, "203.0.113.9, 198.51.100.7") == "198.51.100.7"


def test_trusted_proxies_in_the_chain_are_skipped(server, http):
    assert seen_as(server, http, "198.51.100.7, 127.0.0.1") == "198.51.100.7"
