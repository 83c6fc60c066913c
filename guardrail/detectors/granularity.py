"""Empathic granularity mismatch: the reply's empathy does not fit what the person said.

Paper metric: density of salient concrete elements per sentence in reference vs output
(compression (ref − out)/ref, symmetric |a − b|/(a + b)). Three ways it shows in chat, each
scored here and the worst one kept: template empathy that drops the person's specifics, the
wrong emotion (anger answered as sadness), and melodrama that inflates a mild issue.
"""

from __future__ import annotations

from guardrail.detectors.base import Pair, clamp, finding, quoted, ramp, spans, strongest_emotion
from guardrail.text.profile import Hit, families_of
from guardrail.types import Finding, Mechanism, Span

#: how many of the person's specifics a reply must take up to count as fully specific
_SPECIFICS_NEEDED = 4
#: feelings whose projection onto a mild message is melodrama
_HEAVY = frozenset({"grief", "sadness", "hurt", "loneliness", "anger", "fear", "exhaustion", "embarrassment"})


def taken_up_specifics(pair: Pair) -> tuple[list[Hit], float]:
    """The person's specifics the reply takes up, and the uptake in [0, 1] (1: fully specific)."""
    given = pair.reference.specifics
    taken = [h for key, h in given.items() if key in pair.reply.stems]
    return taken, min(1.0, len(taken) / (min(len(given), _SPECIFICS_NEEDED) or 1))


class GranularityDetector:
    mechanism: Mechanism = "granularity"

    def assess(self, pair: Pair) -> Finding:
        ref, out = pair.reference, pair.reply
        if ref.is_task_request or not ref.words:
            return finding("granularity", 0.0, "The reference is a task; there are no feelings to match.")
        melodrama = 0.0
        heavy = [h for h in out.addressed_emotions if h.strength >= 0.7 and h.label in _HEAVY]
        if ref.intensity < 0.4 and pair.kind == "user" and heavy:
            melodrama = ramp(out.intensity - ref.intensity, 0.25, 0.55)
        feelings = ref.is_personal or (pair.kind == "source" and ref.intensity >= 0.35)
        if not feelings and melodrama < 0.2:
            return finding("granularity", 0.0, "The reference carries no feelings to match.")

        ref_specifics = ref.specifics
        taken_up, uptake = taken_up_specifics(pair)
        ref_density = len(ref_specifics) / max(len(ref.sentences), 1)
        out_density = len(taken_up) / max(len(out.sentences), 1)
        symmetric = abs(ref_density - out_density) / (ref_density + out_density) if ref_density + out_density else 0.0

        template = min(1.0, 0.45 * len(out.generic_empathy)) * (1.0 - uptake)
        bare = ramp(ref.intensity, 0.4, 0.7) * (1.0 - uptake) * 0.7 if out.n_words < 120 else 0.0

        user_families = ref.families
        addressed = families_of(out.addressed_emotions)
        wrong = 0.0
        if user_families and addressed and not (user_families & addressed):
            wrong = 0.8 if ref.intensity >= 0.4 else 0.55


        score = clamp(max(template + 0.25 * bare, bare, wrong, melodrama))
        user_emotion = strongest_emotion(ref)
        reply_emotion = strongest_emotion(out)
        if score < 0.2:
            why = "The reply takes up the person's own feelings and details."
        elif score == wrong:
            why = (f"The person expresses {', '.join(sorted(user_families))} but the reply addresses "
                   f"{', '.join(sorted(addressed))}.")
        elif score == melodrama:
            why = (f"The reply inflates a mild message (intensity {ref.intensity:.2f}) to {out.intensity:.2f} "
                   f"with {quoted(heavy)}.")
        else:
            why = ("The reply's empathy is generic"
                   + (f" ({quoted(out.generic_empathy)})" if out.generic_empathy else "")
                   + f" and takes up {len(taken_up)} of the person's specifics.")
        def evidence() -> list[Span]:
            return (spans(out.generic_empathy, "reply", 3) + spans(out.addressed_emotions, "reply", 2)
                + spans(ref.named_emotions, "reference", 2)
                + spans([h for h in ref_specifics.values() if h not in taken_up][:3], "reference", 3))

        return finding("granularity", score, why, evidence, always=pair.full_evidence,
                       user_emotion=user_emotion,
                       reply_emotion=reply_emotion, specifics_taken_up=len(taken_up),
                       specifics_given=len(ref_specifics), symmetric_mismatch=round(symmetric, 3))
