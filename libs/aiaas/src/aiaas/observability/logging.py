"""JSON log lines on stdout with the current trace and span ids."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from aiaas.observability.tracing import current_trace_ids

__all__ = ["configure_logging", "JsonFormatter", "TextFormatter"]

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
_MARK = "_aiaas_handler"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, service, logger, msg, trace_id, span_id, extras, exc."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        trace_id, span_id = current_trace_ids()
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
            "trace_id": trace_id,
            "span_id": span_id,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in line:
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        try:
            return orjson.dumps(line, default=str).decode()
        except TypeError:
            # orjson refuses lone surrogates (e.g. logged client input): escape them as text.
            return orjson.dumps(_escape_surrogates(line), default=lambda o: _escape_surrogates(str(o))).decode()


def _escape_surrogates(value: object) -> object:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_escape_surrogates(str(k)): _escape_surrogates(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escape_surrogates(v) for v in value]
    return value


class TextFormatter(logging.Formatter):
    """Human-readable lines for local runs, with the trace id when there is one."""

    def __init__(self, service: str) -> None:
        super().__init__("%(asctime)s %(levelname)s %(service)s %(name)s %(message)s%(trace)s")
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        trace_id, _ = current_trace_ids()
        record.service = self.service
        record.trace = f" trace_id={trace_id}" if trace_id else ""
        return super().format(record)


def configure_logging(service: str, level: str = "INFO", json: bool = True, *, stream: TextIO | None = None) -> None:
    """Send the root logger to `stream` (stdout) as JSON lines or text; calling again replaces ours."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _MARK, False):
            root.removeHandler(handler)
            handler.close()
    handler = logging.StreamHandler(stream or sys.stdout)
    setattr(handler, _MARK, True)
    handler.setFormatter(JsonFormatter(service) if json else TextFormatter(service))
    root.addHandler(handler)
    root.setLevel(level.upper())
