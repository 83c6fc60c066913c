"""The committed failure corpus: well-formed lines, labels that agree with their variant, a split
by situation, and conflict-avoidance labels that match their recorded annotation passes."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

from guardrail.types import MECHANISMS

DATA = Path(__file__).resolve().parents[2] / "training" / "data"
ALL_ZERO_VARIANTS = {"attuned", "hard_negative", "task"}


def corpus() -> list[dict[str, object]]:
    rows = []
    for file in sorted((DATA / "failures").glob("*.jsonl")):
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            row = json.loads(line)
            row["_where"] = f"{file.name}:{number}"
            row["_file"] = file.stem
            rows.append(row)
    return rows


ROWS = corpus()


def pair_key(row: dict[str, object]) -> str:
    return hashlib.sha1(f"{row['reference']}\x00{row['reply']}".encode()).hexdigest()[:16]


def test_corpus_size_and_breadth() -> None:
    assert len(ROWS) >= 3000
    assert len({r["situation"] for r in ROWS}) >= 40


def line_problems(row: dict[str, object]) -> list[str]:
    problems = []
    if row["situation"] != row["_file"]:
        problems.append("situation is not the file name")
    if row["reference_kind"] not in {"user", "source"}:
        problems.append(f"reference_kind {row['reference_kind']!r}")
    if not str(row["reference"]).strip() or not str(row["reply"]).strip():
        problems.append("empty text")
    if any(not 0.0 <= float(row[f]) <= 1.0 for f in ("ref_intensity", "reply_intensity")):  # type: ignore[arg-type]
        problems.append("intensity outside [0, 1]")
    labels = row["labels"]
    if not isinstance(labels, dict) or set(labels) != set(MECHANISMS) or {labels[m] for m in MECHANISMS} - {0, 1}:
        return [*problems, f"labels {labels!r}"]
    on = [m for m in MECHANISMS if labels[m]]
    variant = row["variant"]
    fits = (not on if variant in ALL_ZERO_VARIANTS else len(on) >= 2 if variant == "combined" else on == [variant])
    if not fits:
        problems.append(f"variant {variant!r} with labels {on}")
    return problems


def test_every_line_is_well_formed() -> None:
    problems = {str(r["_where"]): p for r in ROWS if (p := line_problems(r))}
    assert problems == {}


def test_a_broken_line_is_caught() -> None:
    row = dict(ROWS[0], variant="attuned", labels=dict.fromkeys(MECHANISMS, 1))
    assert line_problems(row) == ["variant 'attuned' with labels " + str(list(MECHANISMS))]


def test_no_pair_is_written_twice() -> None:
    counts = Counter(pair_key(r) for r in ROWS)
    assert [k for k, n in counts.items() if n > 1] == []


def test_splits_are_by_situation() -> None:
    splits = json.loads((DATA.parent / "splits.json").read_text())
    situations = {r["situation"] for r in ROWS}
    test, dev = set(splits["test"]), set(splits["dev"])
    assert not test & dev
    assert test <= situations and dev <= situations
    assert situations - test - dev, "no training situations left"


def test_conflict_labels_follow_their_annotation_passes() -> None:
    """Every conflict-avoidance label is the recorded majority: the writer's label where the
    second annotator agreed, otherwise the third annotator's (who saw neither)."""
    records = {}
    for line in (DATA / "annotations" / "conflict_avoidance.jsonl").read_text().splitlines():
        rec = json.loads(line)
        records[(rec["situation"], rec["pair"])] = rec
    annotated = 0
    for row in ROWS:
        rec = records.get((row["situation"], pair_key(row)))
        if rec is None:  # written after the second pass; labelled by its writer alone
            continue
        annotated += 1
        expected = rec["first"] if rec["first"] == rec["second"] else rec["third"]
        assert rec["final"] == expected
        assert row["labels"]["conflict_avoidance"] == rec["final"], row["_where"]  # type: ignore[index]
    assert annotated >= 4000
