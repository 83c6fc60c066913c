"""Sentiment attenuation: the person's affect is strong and the reply flattens it.

Paper metric: judge-rated intensity of reference and output; attenuation = ref − out and
(ref − out) / ref. Here intensity comes from the text profile (emotion lexicon, VADER's human
valence ratings, intensifiers, punctuation), and the reply gets credit for naming the feeling.
"""

from __future__ import annotations

from guardrail.detectors.base import Pair, clamp, finding, quoted, ramp, spans, strongest_emotion
from guardrail.text.lexicon import COURTESY_WORDS
from guardrail.text.profile import families_of
from guardrail.types import Finding, Mechanism, Span


class AttenuationDetector:
    mechanism: Mechanism = "attenuation"

    def assess(self, pair: Pair) -> Finding:
        ref, out = pair.reference, pair.reply
        ref_i, out_i = ref.intensity, out.addressed_intensity if pair.kind == "user" else out.intensity
        personal = ref.is_personal or pair.kind == "source"
        gate = ramp(ref_i, 0.35, 0.6) if personal else 0.0
        drop = clamp((ref_i - out_i) / ref_i) if ref_i > 0 else 0.0
        ref_labels = {h.label for h in ref.named_emotions}
        acknowledged = [h for h in out.named_emotions
                        if h.text.lower() not in COURTESY_WORDS and (h.label in ref_labels or h.strength >= 0.75)]
        raw = 0.85 * drop + 0.12 * min(len(out.flattening), 3)
        if acknowledged:
            raw -= 0.35 if ref.families & families_of(acknowledged) else 0.2
        score = gate * clamp(raw)
        user_emotion = strongest_emotion(ref)
        if score < 0.2:
            why = "The reply keeps the emotional weight of what the person wrote."
        else:
            why = (f"The person's message is emotionally intense ({ref_i:.2f}"
                   + (f", {user_emotion}" if user_emotion else "") + f") but the reply is at {out_i:.2f}"
                   + ("" if acknowledged else " and does not name the feeling")
                   + (f"; it uses {quoted(out.flattening)}" if out.flattening else "") + ".")
        def evidence() -> list[Span]:
            return spans(ref.emotions + ref.events, "reference", 3) + spans(out.flattening, "reply", 3)

        return finding("attenuation", score, why, evidence, always=pair.full_evidence,
                       reference_intensity=round(ref_i, 3),
                       reply_intensity=round(out_i, 3), attenuation=round(max(0.0, ref_i - out_i), 3),
                       relative_attenuation=round(drop, 3), user_emotion=user_emotion)
