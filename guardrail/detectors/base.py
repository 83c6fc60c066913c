"""The interface every detector implements, and small helpers they share."""

from __future__ import annotations

from collections.abc import Callable
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
    #: build evidence even for low linguistic scores (a learned scorer may still flag the turn)
    full_evidence: bool = False


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
    # model_construct: the hits come from our own analysis, validation would only cost time
    return [Span.model_construct(side=side, start=h.start, end=h.end, text=h.text, label=h.label)
            for h in sorted(best, key=lambda h: h.start)]


def quoted(hits: list[Hit], limit: int = 2) -> str:
    return ", ".join(f"“{h.text}”" for h in hits[:limit])


#: below this score a finding carries no evidence: nothing to point at, and spans cost time
NOTABLE = 0.2


def finding(mechanism: Mechanism, score: float, explanation: str,
            evidence: Callable[[], list[Span]] | None = None, *, always: bool = False,
            **details: object) -> Finding:
    """A Finding; ``evidence`` is called only when the score is notable (or ``always``)."""
    score = clamp(score)
    spans_ = evidence() if evidence is not None and (always or score >= NOTABLE) else []
    return Finding.model_construct(mechanism=mechanism, score=round(score, 4), flagged=False,
                                   dimension=DIMENSIONS[mechanism], explanation=explanation,
                                   evidence=spans_, details=details)


def strongest_emotion(profile: TextProfile) -> str | None:
    """The fine emotion label the text expresses most strongly."""
    named = profile.named_emotions
    return max(named, key=lambda h: h.strength).label if named else None
