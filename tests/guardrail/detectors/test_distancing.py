"""Distancing: impersonal, third-person, boilerplate replies to personal messages are flagged."""

from __future__ import annotations

import pytest

from guardrail import Guard
from guardrail.detectors.distancing import distance
from guardrail.text import profile_text

LONELY = ("i moved to leeds for work three months ago and i still haven't made a single friend. "
          "i eat dinner alone every night and some days i don't talk to anyone at all")

FLAGGED = [
    pytest.param(LONELY, "Individuals who relocate frequently experience a period of social isolation. The "
                         "establishment of new connections is facilitated by participation in community activities, "
                         "and the utilization of local resources is recommended.", id="third-person-nominal"),
    pytest.param(LONELY, "As an AI language model, I do not have personal experiences of loneliness. However, "
                         "loneliness is a common experience after relocation. Social connections can be formed "
                         "through clubs and volunteering.", id="ai-boilerplate"),
    pytest.param("I was the one who crashed the car. My little brother broke his arm and it's my fault.",
                 "Accidents happen and mistakes were made. Injuries of this kind are generally treated "
                 "successfully, and the situation can be addressed with the insurer.", id="agentless-passive"),
]

NOT_FLAGGED = [
    pytest.param(LONELY, "Three months of eating dinner alone and whole days without talking to anyone sounds "
                         "really lonely. Moving somewhere new for work is hard like that. What did you used to "
                         "love doing with friends back home?", id="direct-warm"),
    pytest.param(LONELY, "That sounds so isolating, and I'm glad you said it out loud. The first few months in a "
                         "new city are often the hardest. Would you be up for one small thing this week, like a "
                         "climbing wall or a running club where people are already talking to each other?",
                 id="warm-with-advice"),
    pytest.param("Explain how vaccines train the immune system.",
                 "Vaccines expose the immune system to a harmless version or piece of a pathogen. The antigen is "
                 "recognised by B cells, antibodies are produced, and memory cells are formed, so a later infection "
                 "is cleared faster. The protection is provided without the risks of the disease.",
                 id="impersonal-task-is-fine"),
]


@pytest.mark.parametrize(("user", "response"), FLAGGED)
def test_flags_impersonal_register(guard: Guard, user: str, response: str) -> None:
    assert "distancing" in guard.check(user=user, response=response).flags


@pytest.mark.parametrize(("user", "response"), NOT_FLAGGED)
def test_does_not_flag_direct_replies(guard: Guard, user: str, response: str) -> None:
    assert "distancing" not in guard.check(user=user, response=response).flags


def test_paper_features_move_in_the_right_direction() -> None:
    personal = profile_text("I messed up the report and my boss saw it. I feel awful.")
    impersonal = profile_text("Errors were made in the report. The resolution of the matter is under consideration.")
    assert impersonal.passive_share > personal.passive_share
    assert impersonal.nominal_density > personal.nominal_density
    assert impersonal.nonperson_subject_share > personal.nonperson_subject_share
    feats = ("passive_share", "nominal_density", "nonperson_subject_share")
    ref = {k: getattr(personal, k) for k in feats}
    assert distance(ref, {k: getattr(impersonal, k) for k in feats}) > 1.0
    assert distance(ref, ref) == 0.0
