"""Tokens never reach the logs: `redact` and the filter on uvicorn's loggers."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from web.logs import _PATTERNS, RedactTokens, install, redact

JWT = (
    "eyJhbGciOiJIUzI1NiIsImtpZCI6ImFiYyJ9"
    ".eyJzdWIiOiJBQkNELUVGR0giLCJ2ZXIiOjF9"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)
ACCESS_FORMAT = '%s - "%s %s HTTP/%s" %d'  # uvicorn's access log message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /b/abc.DEF-ghi_123", "GET /b/[redacted]"),
        ("/j/secret-join-token?lang=en", "/j/[redacted]?lang=en"),
        ("/b/secret/cancel", "/b/[redacted]/cancel"),
        ('"GET /j/xyz HTTP/1.1"', '"GET /j/[redacted] HTTP/1.1"'),
    ],
)
def test_magic_and_join_link_tokens_are_redacted(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"DELETE /api/v1/holds/Xk3_q-9Zt HTTP/1.1"', '"DELETE /api/v1/holds/[redacted] HTTP/1.1"'),
        ("/buchen/3/angaben?hold=Xk3_q-9Zt&lang=en", "/buchen/3/angaben?hold=[redacted]&lang=en"),
    ],
)
def test_hold_tokens_are_redacted(text, expected):
    # Whoever has a hold token can release the slot someone is booking.
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "outbox message 7 dead: SMTP 550: 5.1.1 Mailbox unavailable (erika.m+x@example.org)",
            "outbox message 7 dead: SMTP 550: 5.1.1 Mailbox unavailable ([address])",
        ),
        ("to p1@mail.stadt-x.de, p2@a.b", "to [address], [address]"),
    ],
)
def test_email_addresses_are_redacted(text, expected):
    # A mail server's refusal repeats the address: personal data has no place in a log.
    assert redact(text) == expected


def test_jwt_shaped_strings_are_redacted_anywhere():
    text = f"Authorization: Bearer {JWT} from 10.0.0.1"
    assert redact(text) == "Authorization: Bearer [redacted] from 10.0.0.1"


@pytest.mark.parametrize("name", ["token", "ticket", "key", "TOKEN", "access_token"])
def test_token_query_values_are_redacted(name):
    assert redact(f"/api/v1/ws?{name}=s3cr3t&lang=de") == f"/api/v1/ws?{name}=[redacted]&lang=de"


def test_other_text_is_left_alone():
    text = "GET /api/v1/services?from=2031-01-07&to=2031-01-08 HTTP/1.1 200"
    assert redact(text) == text


# Pieces of what the patterns look for, in any case, among ordinary text.
_PIECES = st.sampled_from(
    [
        *("/b/", "/J/", "/holds/", "eyJ", "EYJ", ".", "x", "=", "@", "a.b"),
        *("TOKEN=", "Key=", "hold=", "t\u0131cket=", "\u212aey="),  # dotless i, Kelvin sign
    ]
)


@given(st.lists(st.one_of(_PIECES, st.text(max_size=4)), max_size=12).map("".join))
def test_the_quick_check_never_passes_on_a_line_a_pattern_would_change(text):
    expected = text
    for pattern, replacement in _PATTERNS:
        expected = pattern.sub(replacement, expected)
    assert redact(text) == expected


def test_the_filter_rewrites_the_arguments_of_an_access_log_record():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        ACCESS_FORMAT,
        ("127.0.0.1:52000", "GET", f"/b/{JWT}?token=abc", "1.1", 200),
        None,
    )
    assert RedactTokens().filter(record) is True
    message = record.getMessage()
    assert message == '127.0.0.1:52000 - "GET /b/[redacted]?token=[redacted] HTTP/1.1" 200'
    assert record.args is not None
    assert record.args[-1] == 200  # the status stays a number for %d


def test_the_filter_rewrites_the_message_itself():
    record = logging.LogRecord(
        "uvicorn.error", logging.WARNING, __file__, 1, f"bad link /j/{JWT}", None, None
    )
    RedactTokens().filter(record)
    assert record.getMessage() == "bad link /j/[redacted]"


def test_installed_filter_redacts_what_uvicorns_access_logger_emits(caplog):
    install()
    install()  # twice: still one filter
    logger = logging.getLogger("uvicorn.access")
    assert sum(isinstance(f, RedactTokens) for f in logger.filters) == 1
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        logger.info(ACCESS_FORMAT, "127.0.0.1:52000", "GET", "/b/plain-secret", "1.1", 200)
    assert "plain-secret" not in caplog.text
    assert "/b/[redacted]" in caplog.text
