"""The sinks ``Guard()`` uses when none are given, from the policy (file + GUARDRAIL_* environment).

- always: :class:`StructlogSink` (text only with ``log_text``, redacted), written off the reply
  path by a background thread;
- ``review_db`` (``GUARDRAIL_REVIEW_DB``) set: :class:`ReviewStore` at that path;
- ``mqtt_url`` (``GUARDRAIL_MQTT_URL``) set: :class:`MqttSink`, started now, so a bad URL or
  refused credentials fail ``Guard()`` with :class:`MqttConfigError`.

Review stores and MQTT sinks are shared per path/broker within a process: building many guards
does not open many files or start many publisher threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guardrail.sinks.base import Sink
from guardrail.sinks.redact import Redactor
from guardrail.sinks.structlog_sink import StructlogSink

if TYPE_CHECKING:
    from guardrail.policy import Policy

_shared: dict[tuple[Any, ...], Any] = {}
_shared_lock = threading.Lock()


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if getter else value)


def _shared_sink(key: tuple[Any, ...], make: Callable[[], Sink]) -> Sink:
    """The process-wide sink for ``key``: made on first use, and again if it was closed."""
    with _shared_lock:
        sink = _shared.get(key)
        if sink is None or getattr(sink, "_closed", False):
            sink = _shared[key] = make()
    return sink


def default_sinks(policy: Policy) -> list[Sink]:
    """Sinks for ``policy``; raises ``MqttConfigError``/``ReviewStoreError`` on bad settings.

    Order: the MQTT outbox's durable insert first, then the hand-offs to the review and log
    writer threads. Woken writers wait for the GIL until the reply thread next releases it; woken
    before the insert (which releases it), they would run in the middle of the reply path.
    """
    names = list(getattr(policy, "redact_names", []) or [])
    redactor = Redactor(names)
    sinks: list[Sink] = []
    mqtt_url = getattr(policy, "mqtt_url", None)
    if mqtt_url:
        from guardrail.sinks.mqtt import MqttSink

        options: dict[str, Any] = {
            "prefix": policy.mqtt_prefix,
            "username": policy.mqtt_username,
            "password": _secret(policy.mqtt_password),
            "ca_file": policy.mqtt_ca_file,
            "cert_file": policy.mqtt_cert_file,
            "key_file": policy.mqtt_key_file,
            "tls_insecure": policy.mqtt_tls_insecure,
            "client_id": policy.mqtt_client_id,
            "outbox": policy.mqtt_outbox,
            "max_events": policy.mqtt_outbox_max_events,
            "max_bytes": policy.mqtt_outbox_max_mb * 1024 * 1024,
            "when_full": policy.mqtt_outbox_when_full,
            "log_text": policy.log_text,
            "redact_names": names,
        }
        key = ("mqtt", mqtt_url, *sorted((k, str(v)) for k, v in options.items()))
        sinks.append(_shared_sink(key, lambda: MqttSink(mqtt_url, **options)))
    review_db = getattr(policy, "review_db", None)
    if review_db:
        from guardrail.sinks.sqlite_store import ReviewStore

        store_text = bool(getattr(policy, "review_text", True))
        key = ("review", str(Path(review_db).resolve()), store_text, tuple(names))
        sinks.append(_shared_sink(key, lambda: ReviewStore(review_db, store_text=store_text, redactor=redactor)))
    # written by a background thread: the reply path only queues the event
    sinks.append(_shared_sink(("log", policy.log_text, tuple(names)),
                              lambda: StructlogSink(log_text=policy.log_text, redactor=redactor, background=True)))
    return sinks
