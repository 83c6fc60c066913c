"""Evaluate the exported model through the runtime code path and write the numbers into the
manifest and MODEL_CARD.md (training time only).

    python -m training.evaluate [--fp32 training/checkpoints/onnx/encoder_fp32_opt.onnx]

First re-chooses the per-mechanism thresholds on the dev split through the int8 runtime path
(written to the manifest). Reports: held-out test split (by situation) per-mechanism macro-F1
(guard with the model, and the linguistic detectors alone), GoEmotions test macro-F1 over 28
labels (per-label thresholds tuned on GoEmotions dev), int8 vs fp32 agreement, and false
positives on AlpacaEval (evaluation only).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from guardrail import MECHANISMS, Guard, load_policy
from guardrail.detectors import Pair, default_detectors
from guardrail.models.features import pair_features
from guardrail.models.fusion import gates_from_features
from guardrail.models.learned import LearnedScorer
from guardrail.models.manifest import model_dir
from guardrail.text.profile import profile_text
from training.data import ROOT, PairExample, load_corpus, load_goemotions
from training.metrics import best_thresholds, f1, macro_f1

sys.path.insert(0, str(ROOT / "benchmarks"))
from accuracy import DEV_SET, evaluate_alpaca, evaluate_labelled, load_labelled

FP32 = ROOT / "training" / "checkpoints" / "onnx" / "encoder_fp32_opt.onnx"


def pair_probabilities(scorer: LearnedScorer, data: list[PairExample]) -> np.ndarray:
    detectors = default_detectors()
    out = []
    for ex in data:
        pair = Pair(profile_text(ex.reference), profile_text(ex.reply), ex.kind,  # type: ignore[arg-type]
                    full_evidence=True)
        features = pair_features(pair, [d.assess(pair) for d in detectors])
        raw = scorer.predict(pair, features)
        out.append(raw["failures"] * gates_from_features(features, float(raw["intensity_reference"])))
    return np.stack(out)


def tune_thresholds(scorer: LearnedScorer, dev: list[PairExample], manifest_path: Path) -> dict[str, float]:
    """Per-mechanism thresholds chosen on the dev split through the shipped int8 path, written
    to the manifest: training chose them on fp32 PyTorch outputs, which differ slightly."""
    probs = pair_probabilities(scorer, dev)
    gold = np.array([ex.labels for ex in dev]) > 0.5
    tuned = best_thresholds(probs, gold)
    scorer.thresholds = np.array(tuned, dtype=np.float32)
    manifest = json.loads(manifest_path.read_text())
    manifest["thresholds"] = dict(zip(MECHANISMS, tuned, strict=True))
    manifest["metrics"]["dev_macro_f1_int8"] = {m: round(macro_f1(probs[:, j] >= tuned[j], gold[:, j]), 3)
                                               for j, m in enumerate(MECHANISMS)}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest["thresholds"]


def test_split_report(scorer: LearnedScorer, test: list[PairExample]) -> tuple[dict[str, object], np.ndarray]:
    probs = pair_probabilities(scorer, test)
    gold = np.array([ex.labels for ex in test]) > 0.5
    thresholds = scorer.thresholds
    report: dict[str, object] = {m: round(macro_f1(probs[:, j] >= thresholds[j], gold[:, j]), 3)
                                 for j, m in enumerate(MECHANISMS)}
    # the linguistic detectors alone, at the policy's default threshold, for comparison
    detectors = default_detectors()
    ling = []
    for ex in test:
        pair = Pair(profile_text(ex.reference), profile_text(ex.reply), ex.kind)  # type: ignore[arg-type]
        ling.append([d.assess(pair).score for d in detectors])
    ling_arr = np.array(ling)
    report["linguistic_only"] = {m: round(macro_f1(ling_arr[:, j] >= 0.5, gold[:, j]), 3)
                                 for j, m in enumerate(MECHANISMS)}
    report["n"] = len(test)
    report["situations"] = sorted({ex.situation for ex in test})
    return report, probs


def goemotions_report(scorer: LearnedScorer) -> dict[str, object]:
    labels = scorer.manifest.emotion_labels

    def emotions(texts: list[str]) -> np.ndarray:
        rows = []
        for t in texts:
            u = scorer.encode(t).vector[None, :]
            out = scorer.heads.run(["emotions_reference"], {"reference": u, "reply": u,
                                                            "features": np.zeros((1, len(scorer.manifest.features)),
                                                                                 dtype=np.float32)})
            rows.append(out[0][0])
        return np.stack(rows)

    dev_texts, dev_gold = load_goemotions("dev")
    test_texts, test_gold = load_goemotions("test")
    dev_p, test_p = emotions(dev_texts), emotions(test_texts)
    thresholds = []
    for j in range(len(labels)):
        grid = np.arange(0.05, 0.95, 0.05)
        scores = [f1(dev_p[:, j] >= t, dev_gold[:, j] > 0.5) for t in grid]
        thresholds.append(float(grid[int(np.argmax(scores))]))
    per_label = {lab: round(f1(test_p[:, j] >= thresholds[j], test_gold[:, j] > 0.5), 3)
                 for j, lab in enumerate(labels)}
    return {"macro_f1": round(float(np.mean(list(per_label.values()))), 3), "per_label": per_label,
            "thresholds": dict(zip(labels, thresholds, strict=True)), "n": len(test_texts)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", type=Path, default=model_dir())
    parser.add_argument("--fp32", type=Path, default=FP32)
    parser.add_argument("--skip-goemotions", action="store_true")
    args = parser.parse_args()
    corpus = load_corpus()
    test = corpus["test"]
    int8 = LearnedScorer(args.model_dir)
    report: dict[str, object] = {"thresholds": tune_thresholds(int8, corpus["dev"], args.model_dir / "manifest.json")}
    report["test_split_macro_f1"], p8 = test_split_report(int8, test)
    if args.fp32.is_file():
        fp32 = LearnedScorer(args.model_dir, encoder_path=args.fp32)
        fp32.thresholds = int8.thresholds
        p32 = pair_probabilities(fp32, test)
        t = int8.thresholds
        report["int8_vs_fp32"] = {"mae": round(float(np.mean(np.abs(p8 - p32))), 4),
                                  "max_abs": round(float(np.max(np.abs(p8 - p32))), 4),
                                  "flag_agreement": round(float(np.mean((p8 >= t) == (p32 >= t))), 4)}
    if not args.skip_goemotions:
        report["goemotions_test"] = goemotions_report(int8)
    guard = Guard(load_policy(model="on", model_dir=args.model_dir), sinks=[])
    report["alpaca_false_positive_rate"] = evaluate_alpaca(guard)
    report["devset"] = evaluate_labelled(guard, load_labelled(DEV_SET))
    manifest_path = args.model_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["metrics"].update(report)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k != "goemotions_test"}, indent=2))
    if "goemotions_test" in report:
        print("goemotions test macro-F1:", report["goemotions_test"]["macro_f1"])  # type: ignore[index]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
