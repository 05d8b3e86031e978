"""A real TURN server for tests: coturn on 127.0.0.1, with the TURN REST API's shared secret
(`use-auth-secret`), every file it writes kept in the test's directory; with `tls=True` also
TURN over TLS, with a certificate for 127.0.0.1 made here (`certificate`: the file a client
trusts, e.g. through SSL_CERT_FILE).

The `coturn` fixture of tests/conftest.py runs it; it needs /usr/bin/turnserver (Debian package
`coturn`) and is skipped without it, except in CI.
"""

from __future__ import annotations

import random
import secrets
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TURNSERVER = Path("/usr/bin/turnserver")
HOST = "127.0.0.1"
REALM = "sprechstunde.test"
RELAY_PORTS = 16
# Below Linux's ephemeral range (32768 and up), so no socket the kernel hands out meanwhile
# takes a relay port between our check and coturn's bind.
PORT_FLOOR, PORT_CEILING = 20000, 32000
STUN_MAGIC_COOKIE = 0x2112A442


@dataclass(frozen=True)
class Coturn:
    host: str
    port: int  # UDP and TCP
    secret: str
    log: Path
    relay_ports: range
    tls_port: int | None = None
    certificate: Path | None = None

    @property
    def turn_url(self) -> str:
        return f"turn:{self.host}:{self.port}?transport=udp"

    @property
    def turns_url(self) -> str:
        assert self.tls_port is not None, "started without tls=True"
        return f"turns:{self.host}:{self.tls_port}?transport=tcp"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def logged(self, text: str, timeout: float = 2.0) -> bool:
        """Whether `text` appears in the log within `timeout`: coturn may write a line just
        after the client already has the answer it describes."""
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


@contextmanager
def running_coturn(workdir: Path, *, tls: bool = False) -> Iterator[Coturn]:
    """coturn on a free block of ports of 127.0.0.1 until the block ends; files in `workdir`."""
    port = _free_port_block(RELAY_PORTS + 2)
    server = Coturn(
        host=HOST,
        port=port,
        secret=secrets.token_urlsafe(24),
        log=workdir / "turnserver.log",
        relay_ports=range(port + 2, port + 2 + RELAY_PORTS),
        tls_port=port + 1 if tls else None,
        certificate=_certificate(workdir) if tls else None,
    )
    with (workdir / "turnserver.out").open("wb") as out:
        process = subprocess.Popen(
            _command(server, workdir), stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    try:
        _wait_until_listening(server, process, timeout=10)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _command(server: Coturn, workdir: Path) -> list[str]:
    return [
        str(TURNSERVER),
        "-n",  # no turnserver.conf: /etc/turnserver.conf must not change what we test
        f"--listening-ip={server.host}",
        f"--relay-ip={server.host}",
        f"--listening-port={server.port}",
        f"--min-port={server.relay_ports.start}",
        f"--max-port={server.relay_ports.stop - 1}",
        "--use-auth-secret",
        f"--static-auth-secret={server.secret}",
        f"--realm={REALM}",
        # Both peers' relay addresses are on 127.0.0.1; coturn refuses loopback peers otherwise.
        "--allow-loopback-peers",
        "--no-cli",
        *_tls_options(server),
        "--no-dtls",
        "--no-rfc5780",  # would open a second, alternate listening port
        "--relay-threads=1",
        "--verbose",  # the per-session Allocate lines the tests look for
        f"--log-file={server.log}",
        "--simple-log",  # exactly this file name, no date suffix or rollover
        "--no-stdout-log",
        f"--pidfile={workdir / 'turnserver.pid'}",
        # Otherwise /var/lib/turn/turndb: the static secret needs no database, but coturn opens one.
        f"--userdb={workdir / 'turndb.sqlite'}",
    ]


def _tls_options(server: Coturn) -> list[str]:
    if server.tls_port is None or server.certificate is None:
        return ["--no-tls"]
    return [
        f"--tls-listening-port={server.tls_port}",
        f"--cert={server.certificate}",
        f"--pkey={server.certificate.with_suffix('.key')}",
        "--no-tlsv1",
        "--no-tlsv1_1",
    ]


def _certificate(workdir: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 (its own CA), and its key beside it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "coturn for the tests")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address(HOST))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = workdir / "turn-tls.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _free_port_block(size: int) -> int:
    """The first of `size` consecutive ports free on 127.0.0.1 for UDP, the first two also for
    TCP (TURN over TCP and over TLS)."""
    for _ in range(100):
        first = random.randrange(PORT_FLOOR, PORT_CEILING - size)
        if (
            _bindable(first, socket.SOCK_STREAM)
            and _bindable(first + 1, socket.SOCK_STREAM)
            and all(_bindable(port, socket.SOCK_DGRAM) for port in range(first, first + size))
        ):
            return first
    raise RuntimeError(f"no {size} consecutive free ports between {PORT_FLOOR} and {PORT_CEILING}")


def _bindable(port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _wait_until_listening(server: Coturn, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Until coturn answers a STUN Binding request on UDP and accepts a TCP connection."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"turnserver exited with {process.returncode}:\n{server.log_text()}")
        if (
            _answers_stun(server)
            and _accepts_tcp(server.port)
            and (server.tls_port is None or _accepts_tcp(server.tls_port))
        ):
            return
        time.sleep(0.05)
    raise TimeoutError(f"turnserver not listening after {timeout} s:\n{server.log_text()}")


def _answers_stun(server: Coturn) -> bool:
    # RFC 8489 section 5: Binding request (0x0001), no attributes, magic cookie, transaction id.
    transaction = secrets.token_bytes(12)
    request = struct.pack("!HHI", 0x0001, 0, STUN_MAGIC_COOKIE) + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        try:
            sock.sendto(request, (server.host, server.port))
            response = sock.recv(2048)
        except OSError:  # a timeout, or ICMP port unreachable before coturn binds
            return False
    # Binding success response (0x0101) to our transaction.
    return response[:2] == b"\x01\x01" and response[8:20] == transaction


def _accepts_tcp(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False
