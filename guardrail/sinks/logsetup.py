"""structlog + standard logging in one call, for applications without their own set-up."""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

import structlog

_HANDLER_NAME = "guardrail-json"


def configure_logging(level: int | str = "INFO", *, json: bool = True, stream: IO[str] | None = None,
                      logger: logging.Logger | None = None) -> logging.Handler:
    """Route structlog through the standard library and render every record as one line.

    structlog events (the guard's ``guardrail.flagged``) and plain ``logging`` records from other
    libraries (paho-mqtt, uvicorn, ...) go to the same handler on ``logger`` (the root logger by
    default), as JSON lines (``json=True``) or a human-readable console format. Calling it again
    replaces the handler it installed before. Returns the handler.
    """
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.processors.StackInfoRenderer(),
                    structlog.processors.format_exc_info, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=shared,
    ))
    target = logger or logging.getLogger()
    for old in [h for h in target.handlers if h.get_name() == _HANDLER_NAME]:
        target.removeHandler(old)
    target.addHandler(handler)
    target.setLevel(level if isinstance(level, int) else level.upper())
    return handler
