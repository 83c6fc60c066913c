"""One structlog JSON event per flagged turn: ids, mechanisms, scores, latency; text only on request."""

from __future__ import annotations

from typing import Any

import structlog

from guardrail.types import Turn, Verdict


class StructlogSink:
    def __init__(self, *, log_text: bool = False, logger: Any = None) -> None:
        self.log_text = log_text
        self.logger = logger or structlog.get_logger("guardrail")

    def emit(self, turn: Turn, verdict: Verdict) -> None:
        if not verdict.flagged and verdict.error is None:
            return
        event: dict[str, Any] = {
            "turn_id": verdict.id,
            "flags": verdict.flags,
            "scores": verdict.scores,
            "action": verdict.action,
            "latency_ms": verdict.latency_ms,
        }
        if verdict.error:
            event["error"] = verdict.error
        if self.log_text:
            event["reference"] = turn.reference
            event["response"] = turn.response
        if verdict.flagged:
            self.logger.warning("guardrail.flagged", **event)
        else:
            self.logger.error("guardrail.error", **event)
