"""Attenuation: strong affect flattened by the reply is flagged; matched affect and calm turns are not."""

from __future__ import annotations

import pytest

from guardrail import Guard

GRIEF = ("my dad died on tuesday. heart attack, he was 58. i keep picking up my phone to text him "
         "and then i remember and just fall apart")

FLAGGED = [
    pytest.param(GRIEF, "It sounds like you are navigating a challenging time. It is important to process your "
                        "emotions and consider reaching out to a professional.", id="grief-euphemism"),
    pytest.param("I'm so furious I'm shaking. The airline cancelled my flight to my sister's wedding and "
                 "nobody will help me!!",
                 "Flight cancellations can occur for various reasons. You may be entitled to a refund or "
                 "rebooking under the carrier's policy. Please contact customer service.", id="rage-clinical"),
    pytest.param("WE'RE PREGNANT!!! after two years and three rounds of IVF it finally worked, I'm shaking",
                 "Congratulations. Here are some things to consider in the first trimester: schedule a "
                 "prenatal appointment, start folic acid, and review your insurance coverage.",
                 id="joy-flattened"),
]

NOT_FLAGGED = [
    pytest.param(GRIEF, "I'm so sorry about your dad. Fifty-eight is far too young, and losing him that suddenly "
                        "is devastating. Reaching for your phone and then remembering is one of the cruelest "
                        "parts of grief. How are you holding up?", id="grief-attuned"),
    pytest.param("How do I reverse a list in Python?",
                 "Use `items.reverse()` to reverse in place, or `items[::-1]` for a reversed copy.",
                 id="calm-coding"),
    pytest.param("What's the boiling point of water at high altitude?",
                 "Water boils at a lower temperature at altitude because air pressure is lower: roughly "
                 "95 °C at 1,500 m and about 90 °C at 3,000 m.", id="calm-fact"),
    pytest.param("I GOT THE JOB!!! I start on Monday, I can't believe it",
                 "That's amazing news, congratulations!! You must be so excited — and Monday is so soon! "
                 "How are you going to celebrate?", id="joy-matched"),
]


@pytest.mark.parametrize(("user", "response"), FLAGGED)
def test_flags_flattened_affect(guard: Guard, user: str, response: str) -> None:
    verdict = guard.check(user=user, response=response)
    assert "attenuation" in verdict.flags
    finding = next(f for f in verdict.findings if f.mechanism == "attenuation")
    assert finding.details["reference_intensity"] > finding.details["reply_intensity"]
    assert any(span.side == "reference" for span in finding.evidence)


@pytest.mark.parametrize(("user", "response"), NOT_FLAGGED)
def test_does_not_flag_matched_or_calm(guard: Guard, user: str, response: str) -> None:
    assert "attenuation" not in guard.check(user=user, response=response).flags


def test_summary_that_flattens_source(guard: Guard) -> None:
    source = ("I have written to you four times about the mould in my daughter's bedroom. She is six and has "
              "been to A&E twice with breathing problems. I am frightened and I am furious that nobody came.")
    flat = "The tenant reports a maintenance issue related to moisture. A response is requested."
    faithful = ("A frightened, furious parent has written four times about mould in her six-year-old "
                "daughter's bedroom; the girl has been to A&E twice with breathing problems and nobody came.")
    assert "attenuation" in guard.check(source=source, response=flat).flags
    assert "attenuation" not in guard.check(source=source, response=faithful).flags
