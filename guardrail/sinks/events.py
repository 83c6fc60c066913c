"""One event per flagged turn, shared by all sinks.

Every sink that sees the same verdict gets the same :class:`FlagEvent` (same ``event_id``), so
a log line, a review-store row and an MQTT message about one turn can be matched up.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
import weakref
from typing import Any, Literal

from guardrail.sinks.context import current_conversation
from guardrail.sinks.redact import Redactor
from guardrail.types import Mechanism, Turn, Verdict

SCHEMA_VERSION = 1
EventKind = Literal["flagged", "error"]


def wants_event(verdict: Verdict) -> bool:
    """Sinks record flagged turns and turns the guard could not score."""
    return verdict.flagged or verdict.error is not None


def top_mechanism(verdict: Verdict) -> Mechanism | None:
    """The flagged mechanism with the highest score (ties: the first flag)."""
    if not verdict.flags:
        return None
    return max(verdict.flags, key=lambda m: verdict.scores.get(m, 0.0))


_NUMBER = (bool, int, float)


def _safe_details(details: dict[str, Any]) -> dict[str, Any]:
    """Top-level numbers only: detector details may quote the texts, which stay out unless text is on."""
    return {k: v for k, v in details.items() if type(v) in _NUMBER}


def _redact_details(value: Any, red: Any) -> Any:
    """Details with text on: strings (which may quote the texts) redacted, at any depth."""
    if isinstance(value, str):
        return red(value)
    if isinstance(value, dict):
        return {k: _redact_details(v, red) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_details(v, red) for v in value]
    return value


def new_event_id() -> str:
    """A random UUID4 as 32 hex digits.

    From the module-level generator (seeded from the OS, re-seeded in forked children): cheaper
    than ``uuid.uuid4()``'s system call, and as unique.
    """
    return uuid.UUID(int=random.getrandbits(128), version=4).hex


class FlagEvent:
    """Identity and content of one event; payload pieces are computed once and reused."""

    __slots__ = ("__weakref__", "_memo", "conversation_id", "created", "event_id", "kind", "mechanism", "turn",
                 "verdict")

    def __init__(self, turn: Turn, verdict: Verdict) -> None:
        self.turn = turn
        self.verdict = verdict
        self.created = time.time()
        self.event_id = new_event_id()
        self.conversation_id = current_conversation()
        self.mechanism = top_mechanism(verdict)
        self.kind: EventKind = "flagged" if verdict.flags else "error"
        self._memo: dict[Any, Any] = {}

    @property
    def created_at(self) -> str:
        """ISO 8601, UTC, milliseconds: ``2026-05-01T12:00:00.000Z``."""
        iso = self._memo.get("iso")
        if iso is None:
            seconds, millis = divmod(int(self.created * 1000), 1000)
            iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
            self._memo["iso"] = iso
        return str(iso)

    def summary(self, *, ts: bool = True) -> dict[str, Any]:
        """The fields every sink carries: ids, mechanisms, scores, action, latency (no text)."""
        v = self.verdict
        event: dict[str, Any] = {"event_id": self.event_id}
        if ts:
            event["ts"] = self.created_at
        event.update({
            "kind": self.kind,
            "conversation_id": self.conversation_id,
            "turn_id": v.id,
            "mechanism": self.mechanism,
            "flags": list(v.flags),
            "scores": dict(v.scores),
            "action": v.action,
            "latency_ms": v.latency_ms,
        })
        if v.error is not None:
            event["error"] = v.error
        return event

    def texts(self, redactor: Redactor | None) -> tuple[str, str]:
        """(reference, reply), redacted."""
        key = ("texts", id(redactor))
        cached = self._memo.get(key)
        if cached is None:
            ref, reply = self.turn.reference, self.turn.response
            cached = (ref, reply) if redactor is None else (redactor(ref) or "", redactor(reply) or "")
            self._memo[key] = cached
        return cached

    def findings(self, *, with_text: bool, redactor: Redactor | None) -> list[dict[str, Any]]:
        """Per-mechanism findings; explanations and evidence (which quote the texts) only with text."""
        key = ("findings", with_text, id(redactor))
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        red = redactor or (lambda s: s)
        out: list[dict[str, Any]] = []
        for f in self.verdict.findings:
            item: dict[str, Any] = {"mechanism": f.mechanism, "score": round(f.score, 4), "flagged": f.flagged}
            if with_text:
                item["explanation"] = red(f.explanation)
                item["evidence"] = [{"side": s.side, "text": red(s.text), "label": s.label} for s in f.evidence]
                item["details"] = _redact_details(f.details, red)
            else:
                item["details"] = _safe_details(f.details)
            out.append(item)
        self._memo[key] = out
        return out


_events: dict[int, tuple[weakref.ref[Verdict], FlagEvent]] = {}
_events_lock = threading.Lock()


def _forget(key: int) -> None:
    _events.pop(key, None)


def event_for(turn: Turn, verdict: Verdict) -> FlagEvent:
    """The event for this verdict, created on first use and shared by every sink."""
    key = id(verdict)
    entry = _events.get(key)
    if entry is not None and entry[0]() is verdict:
        return entry[1]
    event = FlagEvent(turn, verdict)
    with _events_lock:
        entry = _events.get(key)
        if entry is not None and entry[0]() is verdict:
            return entry[1]
        _events[key] = (weakref.ref(verdict, lambda _ref, key=key: _forget(key)), event)  # type: ignore[misc]
    return event
