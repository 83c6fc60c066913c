"""The scan contract: one verdict line per input line, same order; bad lines reported, never a crash."""

from __future__ import annotations

import json

from guardrail import Guard
from guardrail.scan import ScanSummary, scan_lines

GOOD = [
    {"id": 1, "user": "How do I reverse a list in Python?", "response": "Use items[::-1]."},
    {"id": "two", "user": "my dad died on tuesday, he was 58. i keep picking up my phone to text him and then "
                          "i fall apart", "response": "It sounds like you are navigating a challenging time. "
                                                      "Consider reaching out to a professional."},
    {"id": 3, "source": "I am furious and frightened: four letters about the mould and nobody came.",
     "response": "The tenant reports a maintenance issue.",
     "history": [{"role": "user", "content": "please summarise"}]},
]


def test_one_line_per_input_line_in_order(guard: Guard) -> None:
    lines = [json.dumps(r) for r in GOOD]
    results = list(scan_lines(guard, lines))
    assert [r.verdict.id for r in results] == [1, "two", 3]
    assert [r.line_no for r in results] == [1, 2, 3]
    assert not results[0].verdict.flagged and results[1].verdict.flagged


def test_bad_lines_are_reported_and_skipped(guard: Guard) -> None:
    lines = [
        json.dumps(GOOD[0]),
        "{not json",
        json.dumps({"id": 7, "response": "no reference"}),
        json.dumps([1, 2, 3]),
        json.dumps({"id": 8, "user": 5, "response": "x"}),
        "",
        json.dumps(GOOD[1]),
    ]
    results = list(scan_lines(guard, lines))
    assert len(results) == 6  # the blank line is not a record
    bad = [r for r in results if r.bad_input]
    assert [r.line_no for r in bad] == [2, 3, 4, 5]
    assert "line 2: invalid JSON" in (bad[0].verdict.error or "")
    assert bad[1].verdict.id == 7 and "reference" in (bad[1].verdict.error or "")
    assert all(not r.verdict.flagged for r in bad)
    summary = ScanSummary()
    for r in results:
        summary.add(r)
    assert summary.lines == 6 and summary.bad_lines == 4 and summary.flagged == 1
    assert summary.per_mechanism["attenuation"] == 1
