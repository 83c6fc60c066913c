"""The interface every detector implements, and small helpers they share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from guardrail.text.profile import Hit, TextProfile
from guardrail.types import DIMENSIONS, Finding, Mechanism, ReferenceKind, Span


@dataclass(frozen=True, slots=True)
class Pair:
    """What a detector compares: the reference the person brought and the reply."""

    reference: TextProfile
    reply: TextProfile
    kind: ReferenceKind = "user"


class Detector(Protocol):
    """Scores one mechanism for a (reference, reply) pair.

    A learned scorer slots in by implementing the same method; ``Finding.flagged`` is left to
    the policy, which owns the thresholds.
    """

    mechanism: Mechanism

    def assess(self, pair: Pair) -> Finding: ...


def clamp(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def ramp(x: float, low: float, high: float) -> float:
    """0 below ``low``, 1 above ``high``, linear between: a soft gate."""
    return clamp((x - low) / (high - low))


def spans(hits: list[Hit], side: str, limit: int = 4) -> list[Span]:
    """Evidence spans from hits, strongest first, at most ``limit``."""
    best = sorted(hits, key=lambda h: -h.strength)[:limit]
    return [Span(side=side, start=h.start, end=h.end, text=h.text, label=h.label)  # type: ignore[arg-type]
            for h in sorted(best, key=lambda h: h.start)]


def quoted(hits: list[Hit], limit: int = 2) -> str:
    return ", ".join(f"“{h.text}”" for h in hits[:limit])


def finding(mechanism: Mechanism, score: float, explanation: str, evidence: list[Span],
            **details: object) -> Finding:
    return Finding(mechanism=mechanism, score=round(clamp(score), 4), dimension=DIMENSIONS[mechanism],
                   explanation=explanation, evidence=evidence, details=details)


def strongest_emotion(profile: TextProfile) -> str | None:
    """The fine emotion label the text expresses most strongly."""
    named = profile.named_emotions
    return max(named, key=lambda h: h.strength).label if named else None
