"""A private network for WebRTC in the browser tests: a network namespace nothing leaves.

Chromium gathers host candidates on every interface of the machine, so a call between two of
its pages would send media to the machine's own network address. Inside a namespace the test
creates, with `lo` and a veth pair (below) only, every packet stays in that namespace. The
browser runs there through a wrapper executable (Playwright speaks to it over a pipe, which
crosses namespaces), and so does `sprechstunde serve`; setup requests run there too
(`Namespace.run`).

`lo` gets a second address, 127.0.0.2: aiortc (the connection test's echo peer on the server)
leaves 127.0.0.1 out of its host candidates and would otherwise have none.

Firefox gathers no candidates at all without a default route (it asks the route to a public
address which interface to use), and by default no loopback ones. So the namespace also gets a veth
pair with both ends inside it, addresses from TEST-NET-1 (RFC 5737) and a default route over
it: Firefox finds host candidates on the veth, and what it sends to them still never leaves.

Needs root and `ip`; without them the tests are skipped, except in CI, where they fail.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.common import SCRIPT, server_env
from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS

IP = shutil.which("ip") or "/usr/sbin/ip"
PORT = 8000  # the namespace is new and empty: any port is free
STARTUP_SECONDS = 30
REPOSITORY = Path(__file__).resolve().parents[2]

_WAIT_READY = """
import sys, time, urllib.request
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(sys.argv[1] + "/readyz", timeout=1) as answer:
            if answer.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
"""

# A staff login and an ad-hoc room with its guest link, through the JSON API.
_OPEN_ROOM = """
import json, sys
from tests.browser.netns import open_room
print(json.dumps(open_room(*sys.argv[1:4])))
"""


def open_room(base_url: str, email: str, password: str) -> dict[str, Any]:
    """A staff token and an ad-hoc room opened with it: `token`, `room_id`, `guest_url`."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        login = client.post("/api/v1/auth/token", json={"email": email, "password": password})
        token = login.raise_for_status().json()["access_token"]
        opened = client.post(
            "/api/v1/rooms", headers={"Authorization": f"Bearer {token}"}, json={"title": "Test"}
        )
        room = opened.raise_for_status().json()
    return {"token": token, "room_id": room["room"]["id"], "guest_url": room["guest"]["url"]}


def create_advisor(cli: Any, email: str, password: str, name: str) -> None:
    """An advisor account for the host of a test room, through `sprechstunde create-user`."""
    # `--password=…` in one word: a random password may begin with "-", which argparse would
    # take for an option of its own.
    cli(
        "create-user",
        f"--email={email}",
        f"--password={password}",
        "--role",
        "advisor",
        f"--name={name}",
    )


def require_namespaces() -> None:
    problem = None
    if os.geteuid() != 0:
        problem = "network namespaces need root"
    elif not Path(IP).exists():
        problem = "network namespaces need `ip` (iproute2)"
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(problem)
    pytest.skip(problem)


@dataclass(frozen=True)
class Namespace:
    name: str

    def command(self, *args: str) -> list[str]:
        return [IP, "netns", "exec", self.name, *args]

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> str:
        """Run a command inside the namespace; its stdout, or an error with its output."""
        result = subprocess.run(
            self.command(*args), env=env, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def chromium(self, chromium: str, workdir: Path) -> Path:
        """An executable that starts Chromium inside the namespace, for Playwright."""
        wrapper = workdir / "chromium-in-namespace"
        wrapper.write_text(f'#!/bin/sh\nexec {IP} netns exec {self.name} {chromium} "$@"\n')
        wrapper.chmod(0o755)
        return wrapper


VETH = (("veth-a", "192.0.2.1/24"), ("veth-b", "192.0.2.2/24"))
GATEWAY = "192.0.2.2"


def _add_veth_pair(namespace: Namespace) -> None:
    """Both ends in the namespace, and the default route over them (see the module docstring)."""
    (a, _), (b, _) = VETH
    ip = [IP, "-n", namespace.name]
    subprocess.run([*ip, "link", "add", a, "type", "veth", "peer", "name", b], check=True)
    for name, address in VETH:
        subprocess.run([*ip, "addr", "add", address, "dev", name], check=True)
        subprocess.run([*ip, "link", "set", name, "up"], check=True)
    subprocess.run([*ip, "route", "add", "default", "via", GATEWAY, "dev", a], check=True)


@contextmanager
def network_namespace() -> Iterator[Namespace]:
    require_namespaces()
    namespace = Namespace(f"sprechstunde-{secrets.token_hex(4)}")
    subprocess.run([IP, "netns", "add", namespace.name], check=True)
    try:
        subprocess.run([IP, "-n", namespace.name, "link", "set", "lo", "up"], check=True)
        subprocess.run(
            [IP, "-n", namespace.name, "addr", "add", "127.0.0.2/8", "dev", "lo"], check=True
        )
        _add_veth_pair(namespace)
        yield namespace
    finally:
        subprocess.run([IP, "netns", "del", namespace.name], check=False)


@dataclass
class NamespacedServer:
    """`sprechstunde serve` inside a namespace, on a SQLite file."""

    namespace: Namespace
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{PORT}"

    @property
    def env(self) -> dict[str, str]:
        database = f"sqlite:///{self.workdir / 'site.db'}"
        return {**server_env(database, self.base_url, self.secret_key), **self.extra_env}

    def cli(self, *args: str) -> str:
        return self.namespace.run(str(SCRIPT), *args, env=self.env)

    def python(self, code: str, *args: str) -> str:
        env = {**self.env, "PYTHONPATH": str(REPOSITORY)}
        return self.namespace.run(sys.executable, "-c", code, *args, env=env)

    def start(self) -> None:
        self.cli("migrate")
        log = (self.workdir / "server.log").open("ab")
        self.process = subprocess.Popen(
            self.namespace.command(
                str(SCRIPT), "serve", "--host", "127.0.0.1", "--port", str(PORT)
            ),
            env=self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        try:
            self.python(_WAIT_READY, self.base_url, str(STARTUP_SECONDS))
        except RuntimeError as exc:
            raise RuntimeError(f"server did not start:\n{self.log()}") from exc

    def open_room(self, email: str, password: str) -> dict[str, Any]:
        """`open_room` from inside the namespace."""
        return json.loads(self.python(_OPEN_ROOM, self.base_url, email, password))  # type: ignore[no-any-return]

    def log(self) -> str:
        path = self.workdir / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None


@contextmanager
def server_and_browser(
    workdir: Path, chromium: Any, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[NamespacedServer, Any]]:
    """A server and a Chromium inside one fresh network namespace."""
    with network_namespace() as namespace:
        server = NamespacedServer(namespace, workdir, extra_env=extra_env or {})
        browser = None
        try:
            server.start()
            browser = chromium.browser_type.launch(
                executable_path=str(namespace.chromium(CHROMIUM, workdir)),
                args=[*CHROMIUM_FLAGS, "--allow-loopback-in-peer-connection"],
            )
            yield server, browser
        finally:
            if browser is not None:
                browser.close()
            server.stop()


@pytest.fixture(scope="module")
def private_network(
    tmp_path_factory: pytest.TempPathFactory, chromium: Any
) -> Iterator[tuple[NamespacedServer, Any]]:
    """A server and a Chromium inside one fresh network namespace, for one test module."""
    with server_and_browser(tmp_path_factory.mktemp("private-network"), chromium) as pair:
        yield pair
