"""Streaming checks: observe and hold modes, split phrases, incremental analysis, blocking."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator

import pytest

import guardrail.stream as gs
from guardrail import Guard, Turn, Verdict, load_policy
from guardrail.stream import StreamChecker, astream, stream
from guardrail.text.profile import TextProfile
from guardrail.text.segment import sentences

GRIEF = "my dad died on tuesday, he was 58, i keep picking up my phone to text him and then i fall apart"
FLAT = ("It sounds like you are navigating a challenging time. It is important to process your emotions. "
        "Consider reaching out to a professional.")
PLAIN_USER = "How do I reverse a list in Python?"
PLAIN = "Use slicing: items[::-1] returns a reversed copy. Or call items.reverse() to reverse it in place."

#: texts with the punctuation that makes sentence boundaries tricky
TRICKY = [
    FLAT,
    'He said "no." Then he left!! Why?\nI still don\'t know… maybe (or not).',
    "It costs 3.5 dollars, e.g. at the shop. Really?! Yes.\n\n- first item\n- second item",
    "Wait...  what?\" she asked.' Okay)",
    "No punctuation at the end",
    "I'm so sorry about your dad. Fifty-eight is far too young. What was he like to text with?",
]


def chunked(text: str, rng: random.Random, max_size: int = 9) -> list[str]:
    out, i = [], 0
    while i < len(text):
        n = rng.randint(1, max_size)
        out.append(text[i:i + n])
        i += n
    return out


class Recording:
    def __init__(self) -> None:
        self.verdicts: list[Verdict] = []

    def emit(self, turn: Turn, verdict: Verdict) -> None:
        self.verdicts.append(verdict)


@pytest.fixture
def blocking_guard() -> Guard:
    return Guard(load_policy(attenuation={"action": "block"}), sinks=[])


# --- observe -------------------------------------------------------------------------------------
def test_observe_passes_every_chunk_at_once_and_verdict_is_the_full_check(guard: Guard) -> None:
    checker = StreamChecker(guard, user=GRIEF)
    chunks = chunked(FLAT, random.Random(1))
    for c in chunks:
        assert checker.feed(c) == c  # nothing held, nothing changed
    rest, verdict = checker.finish()
    expected = guard.check(user=GRIEF, response=FLAT)
    assert rest == ""
    assert verdict.flagged and "attenuation" in verdict.flags
    assert (verdict.flags, verdict.scores) == (expected.flags, expected.scores)
    assert checker.checks == 0  # observe: no checks on the way unless asked


def test_stream_yields_chunks_then_one_verdict_last(guard: Guard) -> None:
    chunks = chunked(PLAIN, random.Random(2))
    items = list(stream(guard, chunks, user=PLAIN_USER))
    assert items[:-1] == chunks
    assert isinstance(items[-1], Verdict) and not items[-1].flagged
    assert sum(isinstance(i, Verdict) for i in items) == 1


def test_final_verdict_goes_to_sinks_once() -> None:
    sink = Recording()
    g = Guard(sinks=[sink])
    list(stream(g, chunked(FLAT, random.Random(3)), user=GRIEF, mode="hold", hold_sentences=1))
    assert len(sink.verdicts) == 1 and sink.verdicts[0].flagged


# --- hold ------------------------------------------------------------------------------------------
def test_hold_releases_a_sentence_only_when_n_more_are_complete(guard: Guard) -> None:
    checker = StreamChecker(guard, user=PLAIN_USER, mode="hold", hold_sentences=1)
    assert checker.feed("Use slicing to get a rev") == ""
    assert checker.feed("ersed copy. Or call the rev") == ""  # one complete sentence: held
    out = checker.feed("erse method to reverse it in place. Then")
    assert out == "Use slicing to get a reversed copy."  # two complete: the first goes
    assert checker.checks == 2
    rest, verdict = checker.finish()
    assert out + rest == "Use slicing to get a reversed copy. Or call the reverse method to reverse it in place. Then"
    assert not verdict.flagged


@pytest.mark.parametrize("hold", [0, 1, 2, None])
def test_hold_output_is_the_reply_when_not_blocked(guard: Guard, hold: int | None) -> None:
    for seed, text in enumerate(TRICKY):
        items = list(stream(guard, chunked(text, random.Random(seed)), user=GRIEF, mode="hold", hold_sentences=hold))
        assert "".join(i for i in items if isinstance(i, str)) == text
        if hold is None:
            assert len(items) == 2  # everything came at the end, in one piece


# --- incremental analysis ----------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_sentences_found_incrementally_match_the_whole_text(guard: Guard, seed: int) -> None:
    rng = random.Random(seed)
    for text in TRICKY:
        checker = StreamChecker(guard, user=GRIEF, mode="hold", hold_sentences=None)
        for c in chunked(text, rng):
            checker.feed(c)
        checker._cut_boundaries("\n")  # end of stream closes the last sentence
        got = [s.text for p in checker._parts for s in p.sentences]
        assert got == [s.text for s in sentences(text + "\n")], text


def test_each_character_is_analysed_once_while_streaming(guard: Guard, monkeypatch: pytest.MonkeyPatch) -> None:
    analysed: list[int] = []

    class Counting(TextProfile):
        def __init__(self, text: str) -> None:
            analysed.append(len(text))
            super().__init__(text)

    monkeypatch.setattr(gs, "TextProfile", Counting)
    long_reply = " ".join([FLAT, PLAIN] * 20)
    checker = StreamChecker(guard, user=GRIEF, mode="hold", hold_sentences=2)
    for c in chunked(long_reply, random.Random(7), max_size=4):  # ~1,000 chunks, ~140 checks
        checker.feed(c)
    assert checker.checks > 50
    assert sum(analysed) <= len(long_reply)  # no re-scan of the text so far, per chunk or per check


def test_interim_check_agrees_with_the_full_check(guard: Guard) -> None:
    for user, reply in [(GRIEF, FLAT), (PLAIN_USER, PLAIN), (GRIEF, TRICKY[5])]:
        checker = StreamChecker(guard, user=user, mode="hold", hold_sentences=None)
        for c in chunked(reply + "\n", random.Random(0)):
            checker.feed(c)
        interim = checker.interim_verdict
        assert interim is not None
        full = guard.check(user=user, response=reply + "\n")
        assert interim.flags == full.flags
        assert all(abs(interim.scores[m] - full.scores[m]) < 0.02 for m in full.scores)


def test_phrase_split_across_chunks_is_caught(guard: Guard) -> None:
    chunks = ["It sounds like you are navigating a challen", "ging ti", "me. It is imp", "ortant to process your "
              "emotions. Consider reaching out to a profes", "sional."]
    checker = StreamChecker(guard, user=GRIEF, mode="hold", hold_sentences=1)
    for c in chunks[:3]:
        checker.feed(c)
    interim = checker.interim_verdict  # checked as soon as the first sentence ended
    assert interim is not None and "attenuation" in interim.flags
    evidence = [s.text for f in interim.findings for s in f.evidence if s.side == "reply"]
    assert "challenging time" in evidence
    for c in chunks[3:]:
        checker.feed(c)
    _, verdict = checker.finish()
    assert "challenging time" in [s.text for f in verdict.findings for s in f.evidence]
    assert verdict.flags == guard.check(user=GRIEF, response="".join(chunks)).flags


# --- blocking --------------------------------------------------------------------------------------
def test_hold_all_block_withholds_the_whole_reply_and_stops_reading(blocking_guard: Guard) -> None:
    pulled = []

    def llm() -> Iterator[str]:
        for c in chunked(FLAT * 3, random.Random(4)):
            pulled.append(c)
            yield c

    items = list(stream(blocking_guard, llm(), user=GRIEF, mode="hold", hold_sentences=None))
    assert items[:-1] == [blocking_guard.policy.block_message]
    verdict = items[-1]
    assert isinstance(verdict, Verdict) and verdict.action == "block"
    assert len("".join(pulled)) < len(FLAT * 3)  # stopped the LLM after the first bad sentences


def test_block_after_partial_release_withholds_the_held_part(blocking_guard: Guard) -> None:
    reply = PLAIN + " " + FLAT
    items = list(stream(blocking_guard, chunked(reply, random.Random(5)), user=GRIEF, mode="hold",
                        hold_sentences=0))
    text = "".join(i for i in items if isinstance(i, str))
    assert text.endswith(blocking_guard.policy.block_message)
    assert "challenging" not in text


def test_observe_never_blocks(blocking_guard: Guard) -> None:
    items = list(stream(blocking_guard, chunked(FLAT, random.Random(6)), user=GRIEF, interim=True))
    assert "".join(i for i in items if isinstance(i, str)) == FLAT
    assert isinstance(items[-1], Verdict) and items[-1].action == "block"  # the verdict says so; the caller acts


# --- async -----------------------------------------------------------------------------------------
async def test_guard_astream_observe(guard: Guard) -> None:
    chunks = chunked(FLAT, random.Random(8))

    async def llm() -> AsyncIterator[str]:
        for c in chunks:
            yield c

    items = [i async for i in guard.astream(llm(), user=GRIEF)]
    assert items[:-1] == chunks
    assert isinstance(items[-1], Verdict) and "attenuation" in items[-1].flags


async def test_astream_hold_block_closes_the_source(blocking_guard: Guard) -> None:
    closed = []

    async def llm() -> AsyncIterator[str]:
        try:
            for c in chunked(FLAT * 3, random.Random(9)):
                yield c
        finally:
            closed.append(True)

    items = [i async for i in astream(blocking_guard, llm(), user=GRIEF, mode="hold", hold_sentences=None)]
    assert items[0] == blocking_guard.policy.block_message and closed == [True]


def test_bad_arguments(guard: Guard) -> None:
    with pytest.raises(ValueError):
        StreamChecker(guard, user=GRIEF, mode="buffer")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        StreamChecker(guard)  # no reference
    with pytest.raises(ValueError):
        StreamChecker(guard, user=GRIEF, hold_sentences=-1)
