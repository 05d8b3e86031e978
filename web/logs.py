"""Logs without tokens, as text or as one JSON object per line (`SPRECHSTUNDE_LOG_FORMAT`).

uvicorn's access log prints every path and query string, and magic links carry their token in
the path: every line is redacted on its way out, whichever logger wrote it. In JSON each event
carries the id of the request it belongs to (web/observe.py), which the answer also carries in
`X-Request-ID`; the request events there name the route's pattern, never the path itself.
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# Token-bearing query parameters.
_PARAMETER = re.compile(r"((?:token|ticket|key|hold)=)[^&\s\"]+", re.IGNORECASE)
_PATTERNS = [
    # magic links and join links: /b/<token>, /j/<token>
    (re.compile(r"(/[bj]/)[^/?#\s\"]+"), r"\1[redacted]"),
    # slot holds: DELETE /api/v1/holds/<token> (whoever has it can release the slot)
    (re.compile(r"(/holds/)[^/?#\s\"]+"), r"\1[redacted]"),
    # anything JWT-shaped, wherever it appears
    (re.compile(r"eyJ[\w-]*\.[\w-]*\.[\w-]*"), "[redacted]"),
    (_PARAMETER, r"\1[redacted]"),
    # e-mail addresses, which a mail server's refusal repeats (personal data, never logged)
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[address]"),
]


# Each pattern needs one of these: a line without any (a search's query string, say) is passed
# on without running the expressions. The parameter's names are matched in any case, and
# lowering is exact for ASCII only (with IGNORECASE a Kelvin sign matches "k").
_MARKERS = ("/b/", "/j/", "/holds/", "eyJ", "@")
_PARAMETER_MARKERS = ("token=", "ticket=", "key=", "hold=")

# The id of the request being answered, for every event logged while answering it.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# The request events of web/observe.py: JSON only, where they replace uvicorn's access log.
REQUESTS = "sprechstunde.requests"
TEXT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def redact(text: str) -> str:
    if not any(marker in text for marker in _MARKERS) and not _may_name_a_parameter(text):
        return text  # the common case
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _may_name_a_parameter(text: str) -> bool:
    if not text.isascii():
        return _PARAMETER.search(text) is not None
    lowered = text.lower()
    return any(marker in lowered for marker in _PARAMETER_MARKERS)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


class RedactedText(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonLines(logging.Formatter):
    """One event per line: time, level, logger, message, the request's id, and the fields
    a caller passed as `extra={"fields": {...}}`."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            event["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            event.update(fields)
        if record.exc_info:
            event["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(event, ensure_ascii=False, default=str)


class DropClientAddresses(logging.Filter):
    """uvicorn's lines about each WebSocket name the client's address and port: personal data,
    and said better by the request events (web/observe.py). JSON drops them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "uvicorn.error" or not isinstance(record.msg, str):
            return True
        return not (
            record.msg.startswith('%s - "WebSocket ')
            or record.msg in ("connection open", "connection closed")
        )


def config(as_json: bool) -> dict[str, Any]:
    """A `logging.config.dictConfig` for `serve` (uvicorn applies it in each of its worker
    processes) and `worker`: everything to stderr through one formatter."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": {"()": JsonLines if as_json else RedactedText}},
        "filters": {"addresses": {"()": DropClientAddresses}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "stream": "ext://sys.stderr",
                "filters": ["addresses"] if as_json else [],
            }
        },
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {
            "uvicorn": {"handlers": [], "level": "INFO", "propagate": True},
            "uvicorn.error": {"handlers": [], "level": "INFO", "propagate": True},
            # In JSON the request events say it all, with the route's pattern for the path.
            "uvicorn.access": {
                "handlers": [],
                "level": "WARNING" if as_json else "INFO",
                "propagate": True,
            },
            REQUESTS: {"handlers": [], "level": "INFO" if as_json else "WARNING"},
            # What they say at every start is of no use to whoever reads the log.
            "alembic": {"level": "WARNING"},
            "pikepdf": {"level": "WARNING"},
        },
    }


def install() -> None:
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
