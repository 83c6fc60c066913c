"""Linguistic evidence as numbers for the learned pair head (the same code at training and run time)."""

from __future__ import annotations

from guardrail.detectors.base import Pair
from guardrail.detectors.granularity import taken_up_specifics
from guardrail.types import MECHANISMS, Finding

FEATURE_NAMES: tuple[str, ...] = (
    *(f"linguistic_{m}" for m in MECHANISMS),
    "reference_intensity", "reply_intensity", "reply_addressed_intensity", "conflict_weight",
    "reference_personal", "reference_task", "reference_is_source", "questions_to_person",
    "advice_share", "template_empathy", "flattening", "detachment", "avoidance_moves", "engagement_moves",
    "specifics_uptake", "intensity_inflation",
)


def pair_features(pair: Pair, findings: list[Finding]) -> list[float]:
    """Fixed-order feature vector: the four linguistic scores and the signals behind them."""
    ref, out = pair.reference, pair.reply
    scores = {f.mechanism: f.score for f in findings}
    return [
        *(scores.get(m, 0.0) for m in MECHANISMS),
        ref.intensity, out.intensity, out.addressed_intensity, ref.conflict_weight,
        float(ref.is_personal), float(ref.is_task_request), float(pair.kind == "source"),
        min(len(out.questions_to_person), 3) / 3, out.advice_share,
        min(len(out.generic_empathy), 3) / 3, min(len(out.flattening), 3) / 3,
        min(len(out.boilerplate) + len(out.third_person), 3) / 3,
        min(len({h.label for h in out.avoidance}), 3) / 3, min(len(out.engagement), 3) / 3,
        taken_up_specifics(pair)[1], max(0.0, out.intensity - ref.intensity),
    ]
