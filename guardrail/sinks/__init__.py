"""Where verdicts of flagged turns go: each sink is a small callable, errors never reach the reply."""

from guardrail.sinks.base import Sink
from guardrail.sinks.structlog_sink import StructlogSink

__all__ = ["Sink", "StructlogSink"]
