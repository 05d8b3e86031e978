"""The virus scan of uploads (issue 14) against a real clamd with our own signature database
(tests/documents/clamd.py), and against servers that misbehave: every way of getting no verdict
is ScannerUnavailable, never "clean"."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from documents.scanner import (
    CHUNK_SIZE,
    Outcome,
    ScannerUnavailable,
    TcpAddress,
    UnixAddress,
    Verdict,
    parse_scan_reply,
    parse_url,
)
from documents.scanner import Scanner as ClamdScanner
from tests.documents.clamd import (
    EICAR,
    EICAR_SIGNATURE,
    MARKER,
    MARKER_SIGNATURE,
    STREAM_MAX_LENGTH,
    Clamd,
)

PDF_LIKE = (
    b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)


@pytest.fixture
def scanner(clamd: Clamd) -> ClamdScanner:
    return ClamdScanner(clamd.url, timeout=10)


def test_a_clean_file_passes(scanner: ClamdScanner) -> None:
    scanner.ping()
    verdict = scanner.scan(b"Sehr geehrte Damen und Herren,\nanbei mein Antrag.\n")
    assert verdict == Verdict.clean()
    assert verdict.is_clean
    assert verdict.signature is None


def test_an_empty_file_passes(scanner: ClamdScanner) -> None:
    assert scanner.scan(b"").is_clean


def test_eicar_is_infected_with_its_name(scanner: ClamdScanner) -> None:
    verdict = scanner.scan(EICAR)
    assert verdict.outcome is Outcome.INFECTED
    assert not verdict.is_clean
    # clamd marks signatures of a database it did not sign: Eicar-Test-Signature.UNOFFICIAL
    assert verdict.signature is not None
    assert verdict.signature.startswith(EICAR_SIGNATURE)


def test_our_own_signature_is_found_inside_a_larger_file(scanner: ClamdScanner) -> None:
    data = PDF_LIKE + bytes(range(256)) * 1000 + MARKER + b"\n" * 5000
    verdict = scanner.scan(data)
    assert verdict.outcome is Outcome.INFECTED
    assert verdict.signature is not None
    assert verdict.signature.startswith(MARKER_SIGNATURE)


def test_a_pdf_like_clean_file_passes(scanner: ClamdScanner) -> None:
    assert scanner.scan(PDF_LIKE) == Verdict.clean()


@pytest.mark.parametrize("size", [2 * CHUNK_SIZE, 3 * CHUNK_SIZE + 5, 1_000_000])
def test_data_larger_than_a_chunk_is_streamed_whole(scanner: ClamdScanner, size: int) -> None:
    clean = bytes(i * 7 % 251 for i in range(size))
    assert scanner.scan(clean).is_clean
    # The marker straddling the boundary of two chunks, and at the very end: all bytes arrive.
    start = CHUNK_SIZE - 10
    across = clean[:start] + MARKER + clean[start + len(MARKER) :]
    at_end = clean[: size - len(MARKER)] + MARKER
    for data in (across, at_end):
        assert len(data) == size
        assert scanner.scan(data).outcome is Outcome.INFECTED


def test_more_than_clamds_stream_limit_is_unavailable_not_clean(scanner: ClamdScanner) -> None:
    with pytest.raises(ScannerUnavailable, match="size limit"):
        scanner.scan(b"\0" * (STREAM_MAX_LENGTH + CHUNK_SIZE))
    assert scanner.scan(b"still here").is_clean


def test_a_stopped_scanner_is_unavailable_and_scans_again_once_started(
    clamd: Clamd, scanner: ClamdScanner
) -> None:
    assert scanner.scan(b"before").is_clean
    clamd.stop()
    try:
        with pytest.raises(ScannerUnavailable):
            scanner.ping()
        for data in (b"while stopped", EICAR):
            with pytest.raises(ScannerUnavailable):
                scanner.scan(data)
    finally:
        clamd.start()
    scanner.ping()
    assert scanner.scan(b"after").is_clean
    assert scanner.scan(EICAR).outcome is Outcome.INFECTED


def test_a_socket_that_does_not_exist_is_unavailable(tmp_path: Path) -> None:
    scanner = ClamdScanner(f"unix://{tmp_path / 'no-such.ctl'}", timeout=2)
    with pytest.raises(ScannerUnavailable):
        scanner.ping()
    with pytest.raises(ScannerUnavailable):
        scanner.scan(b"data")


def test_a_refused_tcp_connection_is_unavailable() -> None:
    with socket.socket() as sock:  # a port of 127.0.0.1 nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ScannerUnavailable):
        ClamdScanner(f"tcp://127.0.0.1:{port}", timeout=2).scan(b"data")


@pytest.mark.parametrize(
    "url",
    [
        "",
        "clamd",
        "/run/clamav/clamd.ctl",
        "http://localhost:3310",
        "unix://run/clamav/clamd.ctl",  # a host "run", not an absolute path
        "unix:relative.ctl",
        "unix:///run/clamav/",
        "tcp://",
        "tcp://:3310",
        "tcp://localhost:port",
        "tcp://localhost:99999",
        "tcp://localhost:3310/path",
        "tcp://user:secret@localhost:3310",
        "tcp://localhost:3310?timeout=5",
    ],
)
def test_a_garbage_url_is_a_value_error(url: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        ClamdScanner(url)


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("tcp://clamav:3310", TcpAddress("clamav", 3310)),
        ("tcp://127.0.0.1:13310", TcpAddress("127.0.0.1", 13310)),
        ("tcp://clamav", TcpAddress("clamav", 3310)),
        ("tcp://clamav:3310/", TcpAddress("clamav", 3310)),
        ("tcp://[::1]:3310", TcpAddress("::1", 3310)),
        ("unix:///run/clamav/clamd.ctl", UnixAddress("/run/clamav/clamd.ctl")),
    ],
)
def test_urls_are_parsed_without_connecting(url: str, address: object) -> None:
    assert parse_url(url) == address
    assert ClamdScanner(url).address == address


def test_a_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout"):
        ClamdScanner("tcp://127.0.0.1:3310", timeout=0)


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("stream: OK", Verdict.clean()),
        ("stream: Eicar-Test-Signature FOUND", Verdict.infected("Eicar-Test-Signature")),
        ("stream: Win.Test.EICAR_HDB-1 FOUND", Verdict.infected("Win.Test.EICAR_HDB-1")),
    ],
)
def test_verdict_replies(reply: str, verdict: Verdict) -> None:
    assert parse_scan_reply(reply) == verdict


@pytest.mark.parametrize(
    "reply",
    [
        "INSTREAM size limit exceeded. ERROR",
        "stream: Can't allocate memory ERROR",
        "UNKNOWN COMMAND",
        "stream: FOUND",
        "stream: OK OK",
        "OK",
        "PONG",
        "",
    ],
)
def test_any_other_reply_is_unavailable(reply: str) -> None:
    with pytest.raises(ScannerUnavailable):
        parse_scan_reply(reply)


def test_a_verdict_is_consistent() -> None:
    with pytest.raises(ValueError, match="signature"):
        Verdict(Outcome.INFECTED)
    with pytest.raises(ValueError, match="signature"):
        Verdict(Outcome.CLEAN, "Eicar-Test-Signature")


Handler = Callable[[socket.socket], None]


@pytest.fixture
def fake_clamd(tmp_path: Path) -> Iterator[Callable[[Handler], str]]:
    """A server on a unix socket in tmp_path that answers every connection with `handler`;
    returns its URL."""
    servers: list[tuple[socket.socket, threading.Thread]] = []

    def serve(handler: Handler) -> str:
        path = tmp_path / f"fake{len(servers)}.ctl"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        server.listen()

        def loop() -> None:
            while True:
                try:
                    connection, _ = server.accept()
                except OSError:
                    return
                with connection, contextlib.suppress(OSError):
                    handler(connection)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"unix://{path}"

    yield serve
    for server, thread in servers:
        server.shutdown(socket.SHUT_RDWR)
        server.close()
        thread.join(timeout=5)


def _read_stream(connection: socket.socket) -> bytes:
    """Everything up to the client's zero-length chunk, its PING or its hanging up."""
    received = b""
    while not received.endswith(b"\0\0\0\0") and received != b"zPING\0":
        piece = connection.recv(65536)
        if not piece:
            break
        received += piece
    return received


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 400 Bad Request\r\n\r\n",
        b"\xff\xfe\x00garbage",
        b"stream: maybe\0",
        b"PONG\0",
        b"x" * 100_000,
        b"",  # hangs up without a word
    ],
)
def test_a_server_answering_garbage_is_unavailable(
    fake_clamd: Callable[[Handler], str], answer: bytes
) -> None:
    def handler(connection: socket.socket) -> None:
        _read_stream(connection)
        connection.sendall(answer)

    scanner = ClamdScanner(fake_clamd(handler), timeout=5)
    with pytest.raises(ScannerUnavailable):
        scanner.scan(b"data")
    if answer != b"PONG\0":
        with pytest.raises(ScannerUnavailable):
            scanner.ping()


def test_a_server_that_never_answers_times_out_as_unavailable(
    fake_clamd: Callable[[Handler], str],
) -> None:
    release = threading.Event()

    def handler(connection: socket.socket) -> None:
        _read_stream(connection)
        release.wait(10)

    scanner = ClamdScanner(fake_clamd(handler), timeout=0.5)
    try:
        with pytest.raises(ScannerUnavailable):
            scanner.scan(b"data")
    finally:
        release.set()


def test_only_the_content_goes_over_the_socket(fake_clamd: Callable[[Handler], str]) -> None:
    """The exact bytes of zINSTREAM: the command, chunks of at most 64 KiB after their
    big-endian length, a zero-length chunk; no file name, no path."""
    received: list[bytes] = []

    def handler(connection: socket.socket) -> None:
        received.append(_read_stream(connection))
        connection.sendall(b"stream: OK\0")

    data = b"A" * CHUNK_SIZE + b"B" * 10
    assert ClamdScanner(fake_clamd(handler)).scan(data) == Verdict.clean()
    assert received == [
        b"zINSTREAM\0"
        + CHUNK_SIZE.to_bytes(4, "big")
        + b"A" * CHUNK_SIZE
        + (10).to_bytes(4, "big")
        + b"B" * 10
        + b"\0\0\0\0"
    ]
