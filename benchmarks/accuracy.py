"""Detector quality: per-mechanism precision/recall/F1 on labelled turns, false positives on AlpacaEval.

    python benchmarks/accuracy.py                       # dev set + AlpacaEval
    python benchmarks/accuracy.py --data training/data/failures --json out.json

AlpacaEval (CC BY-NC, evaluation only) is read from ../shared/data/alpaca_eval_dev; the few
instructions with real emotional content are left out of the false-positive rate (listed, with
how they were chosen, in benchmarks/data/alpaca_emotional.json) and reported separately.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from guardrail import MECHANISMS, Guard, Turn, load_policy

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT / "benchmarks" / "data" / "devset.jsonl"
ALPACA_DIR = ROOT.parent / "shared" / "data" / "alpaca_eval_dev"
EMOTIONAL = ROOT / "benchmarks" / "data" / "alpaca_emotional.json"


def load_labelled(path: Path) -> list[tuple[Turn, dict[str, int]]]:
    """Labelled turns from a JSON Lines file or a folder of them (dev set or corpus format)."""
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    rows = []
    for file in files:
        for line in file.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            if "reference" in rec:  # corpus format
                key = "source" if rec.get("reference_kind") == "source" else "user"
                rec = {key: rec["reference"], "response": rec["reply"], "labels": rec["labels"],
                       "history": rec.get("history", [])}
            rows.append((Turn.model_validate(rec), rec["labels"]))
    return rows


def prf(pairs: list[tuple[bool, bool]]) -> dict[str, float]:
    tp = sum(p and g for p, g in pairs)
    fp = sum(p and not g for p, g in pairs)
    fn = sum(g and not p for p, g in pairs)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3),
            "support": tp + fn, "n": len(pairs)}


def evaluate_labelled(guard: Guard, rows: list[tuple[Turn, dict[str, int]]]) -> dict[str, dict[str, float]]:
    verdicts = [guard.check_turn(turn) for turn, _ in rows]
    report: dict[str, dict[str, float]] = {}
    for m in MECHANISMS:
        report[m] = prf([(m in v.flags, bool(labels.get(m))) for v, (_, labels) in zip(verdicts, rows, strict=True)])
    report["macro"] = {"f1": round(sum(report[m]["f1"] for m in MECHANISMS) / len(MECHANISMS), 3)}
    clean = [v for v, (_, labels) in zip(verdicts, rows, strict=True) if not any(labels.values())]
    report["clean_turns_flagged"] = {"share": round(sum(v.flagged for v in clean) / max(len(clean), 1), 3),
                                     "n": len(clean)}
    return report


def evaluate_alpaca(guard: Guard) -> dict[str, dict[str, float]]:
    emotional = {e["instruction"] for e in json.loads(EMOTIONAL.read_text(encoding="utf-8"))["instructions"]}
    report: dict[str, dict[str, float]] = {}
    for file in sorted(ALPACA_DIR.glob("*.json")):
        records = json.loads(file.read_text(encoding="utf-8"))
        neutral = [r for r in records if r["instruction"] not in emotional]
        flagged = {m: 0 for m in MECHANISMS}
        any_flag = 0
        for r in neutral:
            v = guard.check(user=r["instruction"], response=r["output"])
            any_flag += v.flagged
            for m in v.flags:
                flagged[m] += 1
        emo = [guard.check(user=r["instruction"], response=r["output"]) for r in records
               if r["instruction"] in emotional]
        report[file.stem] = {"n": len(neutral), "any": round(any_flag / len(neutral), 4),
                             **{m: round(flagged[m] / len(neutral), 4) for m in MECHANISMS},
                             "emotional_left_out": len(emo), "emotional_flagged": sum(v.flagged for v in emo)}
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEV_SET, help="labelled JSONL file or folder")
    parser.add_argument("--no-alpaca", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    guard = Guard(load_policy(), sinks=[])
    report: dict[str, object] = {"labelled": str(args.data.relative_to(ROOT) if args.data.is_absolute()
                                                 and ROOT in args.data.parents else args.data)}
    report["labelled_metrics"] = evaluate_labelled(guard, load_labelled(args.data))
    if not args.no_alpaca:
        if ALPACA_DIR.is_dir():
            report["alpaca_false_positive_rate"] = evaluate_alpaca(guard)
        else:
            print(f"note: {ALPACA_DIR} not found; AlpacaEval skipped", file=sys.stderr)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
