from __future__ import annotations

import numpy as np
import pytest

from guardrail.detectors import Pair
from guardrail.detectors.granularity import taken_up_specifics
from guardrail.models.fusion import calibrate, reference_gates
from guardrail.text.profile import profile_text
from guardrail.types import MECHANISMS

GRA = MECHANISMS.index("granularity")
ATT = MECHANISMS.index("attenuation")


def gates(**overrides: float | bool) -> np.ndarray:
    settings: dict = {"lexicon_intensity": 0.0, "model_intensity": 0.0, "conflict_weight": 0.0, "is_task": False,
                      "is_personal": False, "linguistic_granularity": 0.0, "inflation": 0.0}
    settings.update(overrides)
    return reference_gates(**settings)


def test_a_calm_reference_closes_every_gate() -> None:
    assert gates().tolist() == [0.0, 0.0, 0.0, 0.0]


def test_affect_opens_the_affect_gates() -> None:
    g = gates(model_intensity=0.8)
    assert g[ATT] == 1.0 and g[GRA] == 1.0


def test_melodrama_opens_only_granularity_on_a_calm_reference() -> None:
    g = gates(inflation=0.6)
    assert g[GRA] == 1.0
    assert g[ATT] == 0.0  # a flat reply cannot attenuate a calm message
    assert gates(inflation=0.1)[GRA] == 0.0  # a slightly warmer reply is not melodrama


def test_impersonal_task_instructions_keep_a_share() -> None:
    g = gates(model_intensity=0.8, is_task=True)
    assert g[ATT] == pytest.approx(0.3)
    assert gates(model_intensity=0.8, is_task=True, is_personal=True)[ATT] == 1.0


def test_calibration_puts_each_threshold_on_one_half() -> None:
    thresholds = np.array([0.2, 0.4, 0.6, 0.8], dtype=np.float32)
    assert calibrate(thresholds, thresholds) == pytest.approx([0.5] * 4)
    assert calibrate(np.zeros(4), thresholds) == pytest.approx([0.0] * 4)
    assert calibrate(np.ones(4), thresholds) == pytest.approx([1.0] * 4)


def test_specifics_uptake_counts_the_persons_details_the_reply_takes_up() -> None:
    reference = profile_text("My dog Biscuit died on Tuesday. She was 14 and slept on my bed every night "
                             "since college.")
    specific = profile_text("Fourteen years with Biscuit, and she slept on your bed every night. Tuesday must have "
                            "been so hard.")
    generic = profile_text("I'm so sorry for your loss. Losing a pet is never easy.")
    taken, uptake = taken_up_specifics(Pair(reference, specific))
    assert uptake > 0.6 and taken
    assert taken_up_specifics(Pair(reference, generic))[1] < uptake
