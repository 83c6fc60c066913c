"""Linguistic distancing: the reply talks about the person from a distance.

Paper metric: three rule-based features — share of sentences with an agentless passive,
nominalisation density, share of non-person grammatical subjects — z-scored against reference
texts, Euclidean distance between reference and output. Only distance *away* from the person
counts. Second signal (Nook et al. 2017): fewer first/second-person words and present tense; and
the boilerplate of detachment ("As an AI language model…", "individuals experiencing…").
"""

from __future__ import annotations

import math

from guardrail.detectors.base import Pair, clamp, finding, quoted, ramp, spans
from guardrail.types import Finding, Mechanism, Span

#: mean and standard deviation of each feature over 5,000 GoEmotions comments (the reference
#: population: people writing in their own voice); reproduce with benchmarks/reference_stats.py
REFERENCE_STATS: dict[str, tuple[float, float]] = {
    "passive_share": (0.0316, 0.1585),
    "nominal_density": (0.0091, 0.0305),
    "nonperson_subject_share": (0.54, 0.4384),
}


def distance(ref_features: dict[str, float], out_features: dict[str, float]) -> float:
    """Euclidean distance of z-scores, counting only features where the reply is more distant."""
    total = 0.0
    for name, (_, std) in REFERENCE_STATS.items():
        gap = (out_features[name] - ref_features[name]) / std
        total += max(0.0, gap) ** 2
    return math.sqrt(total)


class DistancingDetector:
    mechanism: Mechanism = "distancing"

    def assess(self, pair: Pair) -> Finding:
        ref, out = pair.reference, pair.reply
        personal = ref.is_personal or (pair.kind == "source" and ref.first_singular_rate >= 0.03)
        at_stake = personal and not ref.is_task_request
        stakes = max(ramp(ref.intensity, 0.2, 0.45), ref.conflict_weight) if at_stake else 0.0
        if stakes == 0.0:
            return finding("distancing", 0.0, "The reference is impersonal; a neutral register fits it.")
        feats_ref = {k: getattr(ref, k) for k in REFERENCE_STATS}
        feats_out = {k: getattr(out, k) for k in REFERENCE_STATS}
        dist = distance(feats_ref, feats_out)
        reply_personal = out.first_singular_rate + out.second_person_rate
        pronoun_drop = ramp(0.06 - reply_personal, 0.0, 0.05) if pair.kind == "user" else 0.0
        tense_drop = ramp(ref.present_share - out.present_share, 0.2, 0.6)
        markers = out.boilerplate + out.third_person
        score = stakes * clamp(0.12 * dist + 0.35 * min(len(out.boilerplate), 2) + 0.2 * min(len(out.third_person), 3)
                      + 0.3 * pronoun_drop + 0.1 * tense_drop - 0.15)
        if score < 0.2:
            why = "The reply speaks to the person directly, in a register close to theirs."
        else:
            why = (f"The reply is more impersonal than the person (distance {dist:.1f} on passives, "
                   f"nominalisations and non-person subjects"
                   + (f"; {quoted(markers)}" if markers else "") + ").")
        def evidence() -> list[Span]:
            return spans(markers, "reply", 3) + spans(out.passives, "reply", 2) + spans(out.nominals, "reply", 2)

        return finding("distancing", score, why, evidence, always=pair.full_evidence,
                       distance=round(dist, 3),
                       reply_features={k: round(v, 3) for k, v in feats_out.items()},
                       reference_features={k: round(v, 3) for k, v in feats_ref.items()},
                       reply_person_rate=round(reply_personal, 3))
