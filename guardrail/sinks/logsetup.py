"""structlog + standard logging in one call, for applications without their own set-up."""

from __future__ import annotations

import json as _json
import logging
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import IO, Any

import structlog

_HANDLER_NAME = "guardrail-json"
_MARK = "guardrail_rendered"


def _render_json(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> tuple[tuple[str], dict[str, Any]]:
    """Last structlog processor: one JSON string, handed to the standard library as the message."""
    line = _json.dumps(event_dict, ensure_ascii=False, default=str, separators=(",", ":"))
    return (line,), {"extra": {_MARK: True}}


def _render_console(logger: Any, method: str,
                    event_dict: MutableMapping[str, Any]) -> tuple[tuple[str], dict[str, Any]]:
    ts = event_dict.pop("timestamp", "")
    level = event_dict.pop("level", method)
    event = event_dict.pop("event", "")
    event_dict.pop("logger", None)
    rest = " ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in event_dict.items())
    return (f"{ts} [{level:<8}] {event} {rest}".rstrip(),), {"extra": {_MARK: True}}


class JsonLineFormatter(logging.Formatter):
    """Lines structlog already rendered pass through; plain ``logging`` records become JSON lines too."""

    def __init__(self, *, json: bool = True) -> None:
        super().__init__()
        self.json = json

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, _MARK, False):
            return record.getMessage()
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        data: dict[str, Any] = {"event": record.getMessage(), "level": record.levelname.lower(),
                                "logger": record.name, "timestamp": ts}
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        if not self.json:
            return f"{ts} [{data['level']:<8}] {data['event']} logger={record.name}" + (
                "\n" + data["exception"] if "exception" in data else "")
        return _json.dumps(data, ensure_ascii=False, default=str)


def configure_logging(level: int | str = "INFO", *, json: bool = True, stream: IO[str] | None = None,
                      logger: logging.Logger | None = None) -> logging.Handler:
    """Route structlog through the standard library and render every record as one line.

    structlog events (the guard's ``guardrail.flagged``) and plain ``logging`` records from other
    libraries (paho-mqtt, uvicorn, ...) go to the same handler on ``logger`` (the root logger by
    default), as JSON lines (``json=True``) or a human-readable format. structlog events are
    rendered once, in structlog, and passed on as the record's message, so the standard library
    adds little. Calling it again replaces the handler it installed before. Returns the handler.
    """
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _render_json if json else _render_console,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonLineFormatter(json=json))
    target = logger or logging.getLogger()
    for old in [h for h in target.handlers if h.get_name() == _HANDLER_NAME]:
        target.removeHandler(old)
    target.addHandler(handler)
    target.setLevel(level if isinstance(level, int) else level.upper())
    return handler
