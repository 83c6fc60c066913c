"""Where verdicts of flagged turns go: each sink is a small callable, errors never reach the reply.

- :class:`StructlogSink`: one JSON log event per flagged turn (standard logging too);
- :class:`ReviewStore`: a SQLite review queue (``guardrail review``, ``guardrail calibrate``);
- :class:`MqttSink`: MQTT events through a durable SQLite outbox (needs the ``mqtt`` extra).

All three share one ``event_id`` per turn. :func:`default_sinks` builds them from the policy.
"""

from typing import TYPE_CHECKING, Any

from guardrail.sinks.base import Sink
from guardrail.sinks.context import conversation, current_conversation
from guardrail.sinks.factory import default_sinks
from guardrail.sinks.logsetup import configure_logging
from guardrail.sinks.outbox import Outbox, OutboxError
from guardrail.sinks.redact import Redactor, redact
from guardrail.sinks.sqlite_store import ReviewStore, ReviewStoreError
from guardrail.sinks.structlog_sink import StructlogSink

if TYPE_CHECKING:
    from guardrail.sinks.mqtt import MqttConfigError, MqttSink

__all__ = ["MqttConfigError", "MqttSink", "Outbox", "OutboxError", "Redactor", "ReviewStore", "ReviewStoreError",
           "Sink", "StructlogSink", "configure_logging", "conversation", "current_conversation", "default_sinks",
           "redact"]


def __getattr__(name: str) -> Any:
    if name in ("MqttSink", "MqttConfigError"):
        from guardrail.sinks import mqtt

        return getattr(mqtt, name)
    raise AttributeError(f"module 'guardrail.sinks' has no attribute {name!r}")
