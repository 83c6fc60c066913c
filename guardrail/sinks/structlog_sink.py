"""One structlog JSON event per flagged turn: ids, mechanisms, scores, latency; text only on request.

The event (``guardrail.flagged`` at WARNING; ``guardrail.error`` at ERROR for a turn the guard
could not score, with the error) carries ``event_id``,
``conversation_id``, ``turn_id``, ``mechanism`` (the highest-scoring flag), ``flags``, ``scores``,
``action`` and ``latency_ms``. With ``log_text=True`` it also carries the reference and the reply,
redacted (e-mails, phone numbers, card-like numbers, configured names).

Where the events go:

- default: ``structlog.get_logger("guardrail")``, i.e. whatever the application configured;
- ``logger=logging.getLogger(...)``: a standard-library logger; each event becomes one JSON
  string message on it, whatever structlog's global configuration;
- :func:`guardrail.sinks.configure_logging` sets structlog and the standard library up together
  (JSON lines, one handler) for applications that have no logging set-up of their own.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

from guardrail.sinks.events import event_for, wants_event
from guardrail.sinks.redact import Redactor
from guardrail.types import Turn, Verdict


def _stdlib_json_logger(logger: logging.Logger) -> Any:
    return structlog.wrap_logger(
        logger,
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
    )


class StructlogSink:
    """Logs flagged turns (and turns the guard failed on) as structured events."""

    def __init__(self, *, log_text: bool = False, logger: Any = None, redactor: Redactor | None = None,
                 redact_names: list[str] | None = None, findings: bool = False) -> None:
        self.log_text = log_text
        self.findings = findings
        self.redactor = redactor if redactor is not None else Redactor(redact_names or ())
        if isinstance(logger, logging.Logger):
            self.logger = _stdlib_json_logger(logger)
        else:
            self.logger = logger or structlog.get_logger("guardrail")

    def emit(self, turn: Turn, verdict: Verdict) -> None:
        if not wants_event(verdict):
            return
        ev = event_for(turn, verdict)
        event = ev.summary(ts=False)  # the logger adds its own timestamp
        del event["kind"]
        if self.log_text:
            reference, reply = ev.texts(self.redactor)
            event["reference_kind"] = turn.reference_kind
            event["reference"] = reference
            event["response"] = reply
        if self.findings:
            event["findings"] = ev.findings(with_text=self.log_text, redactor=self.redactor)
        if verdict.flags:
            self.logger.warning("guardrail.flagged", **event)
        else:
            self.logger.error("guardrail.error", **event)
