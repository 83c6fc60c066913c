"""How the learned probabilities become scores: calibration, and the reference's preconditions.

Every mechanism is a comparison with the reference (DESIGN.md §1): a flat reply cannot attenuate a
calm message, an impersonal explanation cannot distance from a person who brought nothing
personal. The model scores the pair, and each score is then held to the precondition its
mechanism has on the reference — affect for attenuation, distancing and granularity, a conflict
or affect for conflict avoidance — measured by the model's own intensity head and the lexicon.
"""

from __future__ import annotations

import numpy as np

from guardrail.detectors.base import ramp
from guardrail.models.features import FEATURE_NAMES
from guardrail.types import MECHANISMS

#: below these reference intensities a mechanism cannot apply; the gate opens over +0.2
AFFECT_FLOOR = {"attenuation": 0.30, "granularity": 0.25, "conflict_avoidance": 0.35, "distancing": 0.25}
#: an impersonal task instruction ("Write…", "Explain…") keeps this share of its scores
TASK_FACTOR = 0.3


def calibrate(probabilities: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Map each (gated) probability so that the mechanism's tuned threshold lands on 0.5."""
    low = 0.5 * probabilities / thresholds
    high = 0.5 + 0.5 * (probabilities - thresholds) / (1.0 - thresholds)
    return np.where(probabilities < thresholds, low, high)


def reference_gates(*, lexicon_intensity: float, model_intensity: float, conflict_weight: float,
                    is_task: bool, is_personal: bool, linguistic_granularity: float,
                    inflation: float = 0.0) -> np.ndarray:
    """For each mechanism (in MECHANISMS order), how far the reference meets its precondition.

    Plain numbers in, so training (from the feature vector) and run time (from the pair) share it.
    """
    affect = max(model_intensity, lexicon_intensity)
    gates = {m: ramp(affect, floor, floor + 0.2) for m, floor in AFFECT_FLOOR.items()}
    # melodrama needs no affect in the reference, only a reply far more intense than it
    gates["granularity"] = max(gates["granularity"], 1.0 if linguistic_granularity >= 0.5 else 0.0,
                               ramp(inflation, 0.25, 0.45))
    gates["conflict_avoidance"] = max(gates["conflict_avoidance"], conflict_weight)
    gates["distancing"] = max(gates["distancing"], conflict_weight)
    factor = TASK_FACTOR if is_task and not is_personal else 1.0
    return np.array([gates[m] * factor for m in MECHANISMS], dtype=np.float32)


def gates_from_features(features: list[float], model_intensity: float) -> np.ndarray:
    """``reference_gates`` from a ``pair_features`` vector (what training has at hand)."""
    f = dict(zip(FEATURE_NAMES, features, strict=True))
    return reference_gates(lexicon_intensity=f["reference_intensity"], model_intensity=model_intensity,
                           conflict_weight=f["conflict_weight"], is_task=f["reference_task"] > 0.5,
                           is_personal=f["reference_personal"] > 0.5,
                           linguistic_granularity=f["linguistic_granularity"],
                           inflation=f["intensity_inflation"])
