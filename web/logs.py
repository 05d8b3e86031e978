"""Keep tokens out of logs: uvicorn's access log prints every path and query string."""

from __future__ import annotations

import logging
import re

_PATTERNS = [
    # magic links and join links: /b/<token>, /j/<token>
    (re.compile(r"(/[bj]/)[^/?#\s\"]+"), r"\1[redacted]"),
    # slot holds: DELETE /api/v1/holds/<token> (whoever has it can release the slot)
    (re.compile(r"(/holds/)[^/?#\s\"]+"), r"\1[redacted]"),
    # anything JWT-shaped, wherever it appears
    (re.compile(r"eyJ[\w-]*\.[\w-]*\.[\w-]*"), "[redacted]"),
    # token-bearing query parameters
    (re.compile(r"((?:token|ticket|key|hold)=)[^&\s\"]+", re.IGNORECASE), r"\1[redacted]"),
]


_MARKERS = ("/b/", "/j/", "/holds/", "eyJ", "=")


def redact(text: str) -> str:
    if not any(marker in text for marker in _MARKERS):
        return text  # the common case, checked without running a regular expression
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install() -> None:
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
