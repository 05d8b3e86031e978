"""Debian's Caddy running the city's own proxy configuration (deploy/Caddyfile) on free ports
of 127.0.0.1, with its internal CA, for the tests of the proxy and of the whole topology.

The CA's root certificate stays in the test's directory (`root_certificate`): clients verify
the proxy against it, as a trial's browsers do once it is imported. Nothing is installed into
the machine's trust store (the Caddyfile says `skip_install_trust`).
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from bench.common import free_port

ROOT = Path(__file__).resolve().parent.parent
CADDYFILE = ROOT / "deploy" / "Caddyfile"
CADDY = shutil.which("caddy") or "/usr/bin/caddy"
HOST = "localhost"  # resolves to loopback; Caddy's internal CA issues a certificate for it


@dataclass
class Caddy:
    workdir: Path
    upstreams: Sequence[str]
    https_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"https://{HOST}:{self.https_port}"

    @property
    def root_certificate(self) -> Path:
        return self.workdir / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.root_certificate))

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SPRECHSTUNDE_PUBLIC_HOST": HOST,
            "SPRECHSTUNDE_TLS": "internal",
            "SPRECHSTUNDE_UPSTREAMS": " ".join(self.upstreams),
            "SPRECHSTUNDE_HTTP_PORT": str(self.http_port),
            "SPRECHSTUNDE_HTTPS_PORT": str(self.https_port),
            "SPRECHSTUNDE_BIND": "127.0.0.1",
            "CADDY_ADMIN": f"127.0.0.1:{self.admin_port}",
            "XDG_DATA_HOME": str(self.workdir / "data"),
            "XDG_CONFIG_HOME": str(self.workdir / "config"),
            "HOME": str(self.workdir),
        }

    def log(self) -> str:
        path = self.workdir / "caddy.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, timeout: float = 30.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with (self.workdir / "caddy.log").open("ab") as log:
            self.process = subprocess.Popen(
                [CADDY, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"caddy exited:\n{self.log()}"
            if self.root_certificate.exists():
                try:
                    with httpx.Client(verify=self.ssl_context(), timeout=2) as client:
                        client.get(f"{self.base_url}/healthz")
                    return
                except (httpx.TransportError, ssl.SSLError):
                    pass
            time.sleep(0.1)
        raise AssertionError(f"caddy did not answer over TLS within {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def need_caddy() -> None:
    if not Path(CADDY).exists():
        if os.environ.get("CI"):
            pytest.fail("caddy is missing: apt-get install caddy")
        pytest.skip("needs caddy (Debian package caddy)")


@contextmanager
def running_caddy(proxy: Caddy) -> Iterator[Caddy]:
    need_caddy()
    try:
        proxy.start()
        yield proxy
    finally:
        proxy.stop()
