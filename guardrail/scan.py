"""Batch scanning of JSON Lines: one verdict line per input line, in order, bad lines included.

A bad line (malformed JSON, missing fields, wrong types) gets a safe verdict carrying an
``error`` and is reported; it never stops the scan.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from pydantic import ValidationError

from guardrail.guard import Guard
from guardrail.types import MECHANISMS, Mechanism, Turn, Verdict


@dataclass(slots=True)
class ScanResult:
    line_no: int
    verdict: Verdict
    bad_input: bool = False


@dataclass(slots=True)
class ScanSummary:
    """Counts for the table at the end of a scan."""

    lines: int = 0
    bad_lines: int = 0
    flagged: int = 0
    per_mechanism: dict[Mechanism, int] = field(default_factory=lambda: dict.fromkeys(MECHANISMS, 0))
    latencies_ms: list[float] = field(default_factory=list)

    def add(self, result: ScanResult) -> None:
        self.lines += 1
        if result.bad_input:
            self.bad_lines += 1
            return
        self.latencies_ms.append(result.verdict.latency_ms)
        self.flagged += result.verdict.flagged
        for mechanism in result.verdict.flags:
            self.per_mechanism[mechanism] += 1


def _error_verdict(turn_id: object, message: str) -> Verdict:
    safe_id = turn_id if isinstance(turn_id, (str, int)) and not isinstance(turn_id, bool) else None
    return Verdict(id=safe_id, flagged=False, flags=[], scores={}, findings=[], latency_ms=0.0, error=message)


def parse_line(line: str) -> Turn:
    """One JSON Lines record as a Turn; raises ValueError with a readable reason."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")
    try:
        return Turn.model_validate(record)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'turn'}: {e['msg']}" for e in exc.errors())
        raise ValueError(problems) from None


def scan_lines(guard: Guard, lines: Iterable[str]) -> Iterator[ScanResult]:
    """Verdicts for JSON Lines input; blank lines are skipped, bad lines yield an error verdict."""
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            turn = parse_line(line)
        except ValueError as exc:
            turn_id = None
            try:
                maybe = json.loads(line)
                turn_id = maybe.get("id") if isinstance(maybe, dict) else None
            except json.JSONDecodeError:
                pass
            yield ScanResult(line_no, _error_verdict(turn_id, f"line {line_no}: {exc}"), bad_input=True)
            continue
        yield ScanResult(line_no, guard.check_turn(turn))
