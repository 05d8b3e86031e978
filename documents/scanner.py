"""The virus scan of every upload (issue 14): a small client of ClamAV's daemon, clamd, speaking
its protocol over a unix or TCP socket (`SPRECHSTUNDE_CLAMAV_URL`, e.g.
`unix:///run/clamav/clamd.ctl` or `tcp://clamav:3310`).

Fail closed: a file is released only on clamd's explicit `stream: OK`. Everything else that is
not a clear `FOUND` (no socket, connection refused, a timeout, `INSTREAM size limit exceeded`,
any `ERROR`, a reply we do not understand) raises `ScannerUnavailable`, never a verdict of clean,
so the caller keeps the file "being checked" and the worker retries later.

No names: the file's content goes over the socket with `zINSTREAM` and nothing else, neither the
citizen's file name nor a path, so nothing a citizen chose can reach clamd's command parser or
its log, and clamd needs no access to our storage.
"""

from __future__ import annotations

import enum
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_TCP_PORT = 3310
DEFAULT_TIMEOUT = 30.0
CHUNK_SIZE = 64 * 1024  # clamd's INSTREAM: chunks of at most this, each after its length
MAX_REPLY = 4096  # clamd's replies are one short line; more than this is not clamd
_LENGTH = struct.Struct(">I")  # 4 bytes, network byte order


class ScannerUnavailable(Exception):
    """clamd gave no verdict: the file must stay pending and be scanned again later."""


class Outcome(enum.Enum):
    CLEAN = "clean"
    INFECTED = "infected"


@dataclass(frozen=True)
class Verdict:
    """clamd's answer on one file: clean, or infected with the name of the signature found."""

    outcome: Outcome
    signature: str | None = None

    def __post_init__(self) -> None:
        if (self.outcome is Outcome.INFECTED) != bool(self.signature):
            raise ValueError("an infected verdict names its signature, a clean one none")

    @classmethod
    def clean(cls) -> Verdict:
        return cls(Outcome.CLEAN)

    @classmethod
    def infected(cls, signature: str) -> Verdict:
        return cls(Outcome.INFECTED, signature)

    @property
    def is_clean(self) -> bool:
        return self.outcome is Outcome.CLEAN


@dataclass(frozen=True)
class UnixAddress:
    path: str


@dataclass(frozen=True)
class TcpAddress:
    host: str
    port: int


Address = UnixAddress | TcpAddress


def parse_url(url: str) -> Address:
    """`unix:///absolute/path` or `tcp://host[:port]` (port 3310 by default); ValueError else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ValueError(f"not a clamd URL: {url!r} ({error})") from None
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"not a clamd URL: {url!r}")
    if parts.scheme == "unix":
        if parts.netloc or not parts.path.startswith("/") or parts.path.endswith("/"):
            raise ValueError(f"a clamd unix URL is unix:///absolute/path/to/socket, not {url!r}")
        return UnixAddress(parts.path)
    if parts.scheme == "tcp":
        if not parts.hostname or parts.path not in ("", "/"):
            raise ValueError(f"a clamd TCP URL is tcp://host:port, not {url!r}")
        return TcpAddress(parts.hostname, DEFAULT_TCP_PORT if port is None else port)
    raise ValueError(f"a clamd URL starts with unix:// or tcp://, not {url!r}")


def parse_scan_reply(reply: str) -> Verdict:
    """`stream: OK` or `stream: <signature> FOUND`; anything else raises ScannerUnavailable."""
    if reply == "stream: OK":
        return Verdict.clean()
    prefix, suffix = "stream: ", " FOUND"
    if reply.startswith(prefix) and reply[len(prefix) :].endswith(suffix):
        signature = reply[len(prefix) : -len(suffix)].strip()
        if signature:
            return Verdict.infected(signature)
    raise ScannerUnavailable(f"clamd answered no verdict: {reply!r}")


class Scanner:
    """A clamd reached at `url`; every call opens its own connection, bounded by `timeout`
    seconds in all (connecting, sending and waiting for the verdict)."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        if timeout <= 0:
            raise ValueError("the timeout must be positive")
        self.url = url
        self.address = parse_url(url)
        self.timeout = timeout

    def ping(self) -> None:
        """Returns when clamd answers PONG; raises ScannerUnavailable otherwise."""
        reply = self._exchange(lambda connection: connection.send(b"zPING\0"))
        if reply != "PONG":
            raise ScannerUnavailable(f"clamd answered PING with {reply!r}")

    def scan(self, data: bytes) -> Verdict:
        """clamd's verdict on `data`, streamed with zINSTREAM; raises ScannerUnavailable
        whenever there is none."""

        def send(connection: _Connection) -> None:
            connection.send(b"zINSTREAM\0")
            view = memoryview(data)
            for start in range(0, len(view), CHUNK_SIZE):
                chunk = view[start : start + CHUNK_SIZE]
                connection.send(_LENGTH.pack(len(chunk)))
                connection.send(chunk)
            connection.send(_LENGTH.pack(0))

        return parse_scan_reply(self._exchange(send))

    def _exchange(self, send: Callable[[_Connection], None]) -> str:
        deadline = time.monotonic() + self.timeout
        try:
            with self._connect(deadline) as sock:
                connection = _Connection(sock, deadline)
                try:
                    send(connection)
                except OSError:
                    # clamd may answer and hang up before it has read everything, as it does
                    # when the stream exceeds its StreamMaxLength: its reply says why.
                    reply = connection.reply()
                    raise ScannerUnavailable(f"clamd stopped reading: {reply!r}") from None
                return connection.reply()
        except ScannerUnavailable:
            raise
        except OSError as error:  # socket.timeout is an OSError
            raise ScannerUnavailable(f"clamd at {self.url}: {error}") from error

    def _connect(self, deadline: float) -> socket.socket:
        address = self.address
        if isinstance(address, UnixAddress):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(_remaining(deadline))
                sock.connect(address.path)
            except BaseException:
                sock.close()
                raise
            return sock
        return socket.create_connection((address.host, address.port), _remaining(deadline))


class _Connection:
    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def send(self, data: bytes | memoryview) -> None:
        self._sock.settimeout(_remaining(self._deadline))
        self._sock.sendall(data)

    def reply(self) -> str:
        """One null-terminated reply, without its terminator (or all until clamd hangs up)."""
        received = bytearray()
        while b"\0" not in received:
            if len(received) > MAX_REPLY:
                raise ScannerUnavailable("clamd's reply is far too long")
            self._sock.settimeout(_remaining(self._deadline))
            try:
                piece = self._sock.recv(MAX_REPLY)
            except ConnectionResetError:
                piece = b""
            if not piece:
                break
            received += piece
        text = bytes(received).split(b"\0", 1)[0].decode("utf-8", "replace").strip()
        if not text:
            raise ScannerUnavailable("clamd hung up without an answer")
        return text


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("clamd did not answer in time")
    return remaining
