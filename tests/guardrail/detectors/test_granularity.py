"""Granularity: template empathy, the wrong emotion and melodrama are flagged; specific replies are not."""

from __future__ import annotations

import pytest

from guardrail import Guard

BOSS = ("my boss yelled at me in front of the whole team today for a mistake that wasn't even mine. "
        "i'm so angry i could scream")
DOG = ("we had to put our dog Biscuit down this morning. she was 14 and she'd been with me through my divorce "
       "and two moves. the house is so quiet")

FLAGGED = [
    pytest.param(BOSS, "I'm sorry you're feeling so sad and down today. Be gentle with yourself and get some rest.",
                 id="anger-read-as-sadness"),
    pytest.param(DOG, "I'm so sorry you're going through this. Your feelings are valid, and it's okay to feel "
                      "this way. Take care of yourself.", id="template-empathy"),
    pytest.param("the coffee machine at work broke again lol, guess it's tea today",
                 "Oh no, I'm so incredibly sorry, that sounds absolutely devastating. You must feel heartbroken "
                 "and overwhelmed right now.", id="melodrama"),
]

NOT_FLAGGED = [
    pytest.param(BOSS, "Being yelled at in front of the whole team for a mistake that wasn't yours is humiliating, "
                       "and of course you're angry. Did anyone on the team know whose mistake it actually was?",
                 id="anger-matched"),
    pytest.param(DOG, "I'm so sorry about Biscuit. Fourteen years, and she was there through the divorce and both "
                      "moves. No wonder the house feels so quiet without her. What was she like?",
                 id="specific-grief"),
    pytest.param("the coffee machine at work broke again lol, guess it's tea today",
                 "Ha, the eternal office coffee machine saga. Tea it is. Hope someone fixes it by tomorrow!",
                 id="mild-matched"),
    pytest.param("Write a short poem about a sad, rainy afternoon.",
                 "Grey light pools on the window's edge,\nthe rain keeps time on the garden hedge;\n"
                 "a cold cup waits, the pages curl,\nthe afternoon a sorrowful, heartbroken swirl.",
                 id="creative-task"),
]


@pytest.mark.parametrize(("user", "response"), FLAGGED)
def test_flags_mismatched_empathy(guard: Guard, user: str, response: str) -> None:
    verdict = guard.check(user=user, response=response)
    assert "granularity" in verdict.flags
    assert next(f for f in verdict.findings if f.mechanism == "granularity").evidence


@pytest.mark.parametrize(("user", "response"), NOT_FLAGGED)
def test_does_not_flag_specific_or_fitting_replies(guard: Guard, user: str, response: str) -> None:
    assert "granularity" not in guard.check(user=user, response=response).flags


def test_wrong_emotion_is_explained(guard: Guard) -> None:
    verdict = guard.check(user=BOSS, response=FLAGGED[0].values[1])
    finding = next(f for f in verdict.findings if f.mechanism == "granularity")
    assert "anger" in finding.explanation and "sadness" in finding.explanation
