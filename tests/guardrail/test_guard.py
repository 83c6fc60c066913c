"""The Guard's public surface and its behaviour on bad input."""

from __future__ import annotations

import asyncio
import json

import pytest
import structlog

from guardrail import MECHANISMS, Guard, load_policy
from guardrail.detectors.base import Pair
from guardrail.sinks import StructlogSink
from guardrail.types import Finding

GRIEF = "my dad died on tuesday, he was 58. i keep picking up my phone to text him and then i fall apart"
FLAT = "It sounds like you are navigating a challenging time. Consider reaching out to a professional."


def test_verdict_dump_is_the_scan_line(guard: Guard) -> None:
    line = guard.check(user=GRIEF, response=FLAT, id="t1").model_dump()
    assert {"id", "flagged", "flags", "scores", "findings", "latency_ms"} <= set(line)
    assert line["id"] == "t1" and line["flagged"] is True and "attenuation" in line["flags"]
    assert set(line["scores"]) == set(MECHANISMS)
    assert all(0.0 <= s <= 1.0 for s in line["scores"].values())
    json.dumps(line)  # serialisable as is
    assert "final_text" not in line  # the reply's words are not copied into scan output


def test_evidence_offsets_point_into_the_texts(guard: Guard) -> None:
    verdict = guard.check(user=GRIEF, response=FLAT)
    for finding in verdict.findings:
        for span in finding.evidence:
            text = FLAT if span.side == "reply" else GRIEF
            assert text[span.start:span.end] == span.text


async def test_acheck_matches_check(guard: Guard) -> None:
    sync = guard.check(user=GRIEF, response=FLAT)
    async_ = await guard.acheck(user=GRIEF, response=FLAT)
    assert sync.flags == async_.flags and sync.scores == async_.scores


async def test_wrap_prepares_reference_while_llm_generates(guard: Guard) -> None:
    calls: list[str] = []

    async def llm(user: str, **kwargs: object) -> str:
        calls.append(user)
        await asyncio.sleep(0.01)
        return FLAT

    guarded = guard.wrap(llm)
    result = await guarded(GRIEF)
    assert calls == [GRIEF]
    assert result.raw == FLAT and result.text == FLAT
    assert "attenuation" in result.verdict.flags


@pytest.mark.parametrize("response", ["", "   ", "\x00\x01\x02binary\xff\xfe", "🙂" * 50])
def test_degenerate_replies_get_a_safe_verdict(guard: Guard, response: str) -> None:
    verdict = guard.check(user=GRIEF, response=response)
    assert verdict.error is None
    assert set(verdict.scores) == set(MECHANISMS)


def test_non_english_is_not_flagged_by_accident(guard: Guard) -> None:
    verdict = guard.check(user="¿Cómo invierto una lista en Python?",
                          response="Puedes usar lista.reverse() o lista[::-1] para obtener una copia invertida.")
    assert not verdict.flagged


def test_huge_input_is_cut_and_said_so(guard: Guard) -> None:
    verdict = guard.check(user=GRIEF, response="word " * 50_000)
    assert verdict.error is not None and "cut" in verdict.error
    assert verdict.latency_ms < 5_000


def test_missing_reference_is_a_clear_error(guard: Guard) -> None:
    with pytest.raises(ValueError, match="reference"):
        guard.check(response="hello")


class _Broken:
    mechanism = "attenuation"

    def assess(self, pair: Pair) -> Finding:
        raise RuntimeError("boom")


def test_fail_open_and_fail_closed() -> None:
    opened = Guard(load_policy(), detectors=[_Broken()], sinks=[]).check(user=GRIEF, response=FLAT)
    assert not opened.flagged and opened.action == "none" and opened.final_text == FLAT
    assert opened.error and "RuntimeError" in opened.error
    closed = Guard(load_policy(fail_mode="closed"), detectors=[_Broken()], sinks=[]).check(user=GRIEF, response=FLAT)
    assert closed.flagged and closed.action == "block" and closed.final_text != FLAT


def test_structlog_event_has_no_text_unless_enabled() -> None:
    with structlog.testing.capture_logs() as logs:
        Guard(load_policy(), sinks=[StructlogSink()]).check(user=GRIEF, response=FLAT, id="t9")
        Guard(load_policy(), sinks=[StructlogSink()]).check(user="How do I sort a list?", response="Use sorted().")
    flagged = [e for e in logs if e["event"] == "guardrail.flagged"]
    assert len(flagged) == 1
    assert flagged[0]["turn_id"] == "t9" and "attenuation" in flagged[0]["flags"]
    assert "reference" not in flagged[0] and "response" not in flagged[0]
    with structlog.testing.capture_logs() as logs:
        Guard(load_policy(), sinks=[StructlogSink(log_text=True)]).check(user=GRIEF, response=FLAT)
    assert logs[-1]["reference"] == GRIEF
