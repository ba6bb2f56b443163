"""Keeps credentials in WebSocket URLs (`?api_key=`, `?ticket=`) out of the logs.

uvicorn logs every handshake with its path and query string ('"WebSocket /v1/realtime/ws?api_key=..."
[accepted]', logger `uvicorn.error`, level INFO) even with the access log off. This filter drops the
whole query of a request target it finds in a record's arguments (so `api%5Fkey=` spellings go too),
and rewrites `api_key=` / `ticket=` values anywhere else, before any handler sees the record.
"""

from __future__ import annotations

import logging
import re

__all__ = ["RedactQueryCredentials", "install", "redact"]

_SECRET_PARAM = re.compile(r"((?:^|[?&])(?:api_key|ticket)=)[^&\s\"']*", re.IGNORECASE)
_REDACTED = r"\1[redacted]"
# Loggers that print request targets: uvicorn's (handshakes, errors) and its access log if ever enabled.
LOGGERS = ("uvicorn.error", "uvicorn.access")


def redact(value: str) -> str:
    """`value` without credential query values; a request target (`/path?query`) loses its whole query."""
    if value.startswith("/") and "?" in value:
        return value.partition("?")[0] + "?[redacted]"
    return _SECRET_PARAM.sub(_REDACTED, value)


def _clean(arg: object) -> object:
    return redact(arg) if isinstance(arg, str) else arg


class RedactQueryCredentials(logging.Filter):
    """Redacts credentials in a record's message and arguments (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_clean(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _clean(arg) for key, arg in record.args.items()}
        return True


def install() -> None:
    """Add the filter to uvicorn's loggers (once per process)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQueryCredentials) for f in logger.filters):
            logger.addFilter(RedactQueryCredentials())
