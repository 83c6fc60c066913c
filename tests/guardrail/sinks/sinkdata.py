"""Turns and verdicts for the sink tests, built directly (no detectors involved)."""

from __future__ import annotations

from guardrail.detectors import Pair
from guardrail.types import DIMENSIONS, MECHANISMS, Finding, Mechanism, Span, Turn, Verdict

USER = "My dad died last week. Maria said to call her at +1 (555) 123-4567 or mail maria.g@example.com."
REPLY = "Bereavement is a challenging situation. Card 4111 1111 1111 1111 on file; Maria can help."


def make_turn(id: str | int | None = 1, user: str = USER, response: str = REPLY) -> Turn:
    return Turn(id=id, user=user, response=response)


def make_verdict(flags: tuple[str, ...] = ("attenuation",), scores: dict[str, float] | None = None,
                 id: str | int | None = 1, error: str | None = None) -> Verdict:
    scores = scores or {m: (0.9 if m in flags else 0.1) for m in MECHANISMS}
    findings = [Finding(mechanism=m, score=scores[m], flagged=m in flags, dimension=DIMENSIONS[m],  # type: ignore[index]
                        explanation=f"{m}: the reply says “Maria can help”",
                        evidence=[Span(side="reply", start=0, end=5, text="Maria can help", label="name")],
                        details={"intensity": 0.7, "quote": "Maria", "nested": {"x": 1}})
                for m in MECHANISMS]
    return Verdict(id=id, flagged=bool(flags), flags=list(flags), scores=scores,  # type: ignore[arg-type]
                   findings=findings, action="flag" if flags else "none", latency_ms=1.5, error=error)


class StubDetector:
    """Always gives ``mechanism`` the same score: a real Guard with predictable verdicts."""

    def __init__(self, mechanism: Mechanism, score: float) -> None:
        self.mechanism = mechanism
        self.score = score

    def assess(self, pair: Pair) -> Finding:
        return Finding(mechanism=self.mechanism, score=self.score, dimension=DIMENSIONS[self.mechanism],
                       explanation="stub")


def stub_detectors(**scores: float) -> list[StubDetector]:
    return [StubDetector(m, scores.get(m, 0.1)) for m in MECHANISMS]
