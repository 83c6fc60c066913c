"""The sink interface."""

from __future__ import annotations

from typing import Protocol

from guardrail.types import Turn, Verdict


class Sink(Protocol):
    """Receives every verdict; decides itself what to keep (most keep flagged turns only)."""

    def emit(self, turn: Turn, verdict: Verdict) -> None: ...
