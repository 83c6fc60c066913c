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

With ``background=True`` (what ``Guard()`` uses) the reply path only queues the event; a writer
thread renders and writes it, inside a copy of the caller's context, so ``structlog.contextvars``
bindings (request ids, ...) still reach the line. This is the standard library's QueueHandler
pattern: log I/O never slows the reply. ``flush()`` waits for queued lines; ``close()`` runs at exit.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from typing import Any

import structlog

from guardrail.sinks.events import FlagEvent, event_for, wants_event
from guardrail.sinks.redact import Redactor
from guardrail.sinks.worker import BackgroundWorker
from guardrail.types import Turn, Verdict

_Queued = tuple[contextvars.Context, FlagEvent, dict[str, Any]]


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
                 redact_names: list[str] | None = None, findings: bool = False, background: bool = False,
                 queue_max: int = 10_000) -> None:
        self.log_text = log_text
        self.findings = findings
        self.redactor = redactor if redactor is not None else Redactor(redact_names or ())
        if isinstance(logger, logging.Logger):
            self.logger = _stdlib_json_logger(logger)
        else:
            self.logger = logger or structlog.get_logger("guardrail")
        self._worker: BackgroundWorker[_Queued] | None = None
        if background:
            self._worker = BackgroundWorker("guardrail-log-writer", self._write, max_pending=queue_max)

    def emit(self, turn: Turn, verdict: Verdict) -> None:
        if not wants_event(verdict):
            return
        ev = event_for(turn, verdict)
        event = ev.summary(ts=False)  # taken now: the verdict as the reply path left it; the logger adds a time
        del event["kind"]
        if self._worker is None:
            self._log(ev, event)
        elif not self._worker.submit((contextvars.copy_context(), ev, event)):
            self._log(ev, event)  # queue full: write it here rather than lose it

    def _write(self, batch: list[_Queued]) -> None:
        for context, ev, event in batch:
            try:
                context.run(self._log, ev, event)
            except Exception as exc:  # a broken handler or processor: say so once per event, go on
                print(f"guardrail: could not log event {ev.event_id}: {exc!r}", file=sys.stderr)

    def _log(self, ev: FlagEvent, event: dict[str, Any]) -> None:
        if self.log_text:
            reference, reply = ev.texts(self.redactor)
            event["reference_kind"] = ev.turn.reference_kind
            event["reference"] = reference
            event["response"] = reply
        if self.findings:
            event["findings"] = ev.findings(with_text=self.log_text, redactor=self.redactor)
        if ev.verdict.flags:
            self.logger.warning("guardrail.flagged", **event)
        else:
            self.logger.error("guardrail.error", **event)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event is written (True) or ``timeout`` passes (False)."""
        return True if self._worker is None else self._worker.flush(timeout)

    def close(self, timeout: float = 5.0) -> None:
        if self._worker is not None:
            self._worker.close(timeout)
