"""A real ClamAV daemon for tests: /usr/sbin/clamd (Debian package `clamav-daemon`) in the
foreground on a unix socket, every file it reads or writes in the test's directory.

freshclam cannot reach ClamAV's mirrors on these machines, so clamd gets a signature database
we write ourselves: the EICAR test file and a marker of our own (`MARKER`), as body signatures
(`.ndb`). It loads in a fraction of a second. ClamAV reports signatures from a database it did
not sign with `.UNOFFICIAL` appended, e.g. `Eicar-Test-Signature.UNOFFICIAL`.

The `clamd` fixture of tests/documents/conftest.py runs it; without /usr/sbin/clamd those tests
skip, except in CI.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CLAMD = Path("/usr/sbin/clamd")
# Assembled here, so that this file does not itself look like the EICAR test file to a scanner.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-" + b"TEST-FILE!$H+H*"
EICAR_SIGNATURE = "Eicar-Test-Signature"
MARKER = b"SPRECHSTUNDE-TEST-MARKER-7f3c9a"
MARKER_SIGNATURE = "Sprechstunde.Test.Marker"
STREAM_MAX_LENGTH = 4 * 1024 * 1024  # small, so that tests can exceed it cheaply
SUN_PATH_MAX = 107  # sockaddr_un's sun_path holds 108 bytes with the terminating null


class Clamd:
    """clamd with its own configuration and database in `workdir`; `start` and `stop` as often
    as a test needs, always on the same socket."""

    def __init__(self, workdir: Path, stream_max_length: int = STREAM_MAX_LENGTH) -> None:
        self.workdir = workdir
        self.stream_max_length = stream_max_length
        self.socket = workdir / "clamd.ctl"
        self.database = workdir / "db"
        self.config = workdir / "clamd.conf"
        self.log = workdir / "clamd.log"
        self.output = workdir / "clamd.out"
        self._process: subprocess.Popen[bytes] | None = None
        if len(os.fsencode(self.socket)) > SUN_PATH_MAX:
            raise ValueError(f"socket path too long for a unix socket: {self.socket}")
        self.database.mkdir(exist_ok=True)
        _write_database(self.database)
        self.config.write_text(self._config_text())

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_text(self) -> str:
        texts = [p.read_text(errors="replace") for p in (self.log, self.output) if p.exists()]
        return "\n".join(texts)

    def start(self, timeout: float = 20.0) -> float:
        """Start clamd and wait until it answers PING; returns the seconds that took."""
        if self.running:
            raise RuntimeError("clamd is already running")
        began = time.monotonic()
        with self.output.open("ab") as out:
            self._process = subprocess.Popen(
                [str(CLAMD), "--foreground", "-c", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        try:
            self._wait_for_pong(self._process, timeout)
        except BaseException:
            self.stop()
            raise
        return time.monotonic() - began

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, and wait until clamd has exited (it removes its socket on the way)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def _wait_for_pong(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"clamd exited with {process.returncode}:\n{self.log_text()}")
            if _pong(self.socket):
                return
            time.sleep(0.02)
        raise TimeoutError(f"clamd did not answer PING within {timeout} s:\n{self.log_text()}")

    def _config_text(self) -> str:
        # No `User`: clamd stays the user that runs the tests. No TCPSocket: no network at all.
        lines = [
            f"LocalSocket {self.socket}",
            "LocalSocketMode 600",
            "FixStaleSocket yes",  # a clamd killed with SIGKILL leaves its socket behind
            f"DatabaseDirectory {self.database}",
            "OfficialDatabaseOnly no",
            "Foreground yes",
            f"LogFile {self.log}",
            "LogTime yes",
            "LogVerbose yes",
            f"PidFile {self.workdir / 'clamd.pid'}",
            f"TemporaryDirectory {self.workdir}",
            f"StreamMaxLength {self.stream_max_length // (1024 * 1024)}M",
            "MaxThreads 2",
            "SelfCheck 0",  # no database reloads while a test runs
            "Bytecode no",
        ]
        return "\n".join(lines) + "\n"


@contextmanager
def running_clamd(workdir: Path, stream_max_length: int = STREAM_MAX_LENGTH) -> Iterator[Clamd]:
    """clamd started in `workdir`, stopped at the end whatever state a test left it in."""
    clamd = Clamd(workdir, stream_max_length)
    clamd.start()
    try:
        yield clamd
    finally:
        clamd.stop()


def _write_database(directory: Path) -> None:
    """Body signatures, `Name:TargetType:Offset:HexSignature`; target 0 is any file, offset `*`
    anywhere in it."""
    signatures = [(EICAR_SIGNATURE, EICAR), (MARKER_SIGNATURE, MARKER)]
    text = "".join(f"{name}:0:*:{body.hex()}\n" for name, body in signatures)
    (directory / "sprechstunde-test.ndb").write_text(text)


def _pong(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(str(path))
            sock.sendall(b"zPING\0")
            return sock.recv(16) == b"PONG\0"
    except OSError:
        return False
