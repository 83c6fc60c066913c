"""Training and evaluation data: the failure corpus by situation split, and GoEmotions (no torch here)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from guardrail.detectors import Pair, default_detectors
from guardrail.models.features import pair_features
from guardrail.text.profile import profile_text
from guardrail.types import MECHANISMS

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "training" / "data" / "failures"
GOEMOTIONS = ROOT.parent / "shared" / "data" / "goemotions"
SEED = 13
N_EMOTIONS = 28


# --- data ------------------------------------------------------------------------------------
@dataclass
class PairExample:
    situation: str
    reference: str
    reply: str
    kind: str
    labels: list[float]
    ref_intensity: float
    reply_intensity: float
    features: list[float]


def load_corpus() -> dict[str, list[PairExample]]:
    """Corpus pairs by split, with the linguistic features the runtime will compute."""
    splits = json.loads((ROOT / "training" / "splits.json").read_text())
    detectors = default_detectors()
    out: dict[str, list[PairExample]] = {"train": [], "dev": [], "test": []}
    for file in sorted(CORPUS.glob("*.jsonl")):
        situation = file.stem
        split = "test" if situation in splits["test"] else "dev" if situation in splits["dev"] else "train"
        for line in file.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            kind = "source" if rec.get("reference_kind") == "source" else "user"
            pair = Pair(profile_text(rec["reference"]), profile_text(rec["reply"]), kind)  # type: ignore[arg-type]
            findings = [d.assess(pair) for d in detectors]
            out[split].append(PairExample(
                situation, rec["reference"], rec["reply"], kind,
                [float(rec["labels"][m]) for m in MECHANISMS],
                float(rec.get("ref_intensity", 0.5)), float(rec.get("reply_intensity", 0.5)),
                pair_features(pair, findings)))
    return out


def load_goemotions(split: str) -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    for line in (GOEMOTIONS / f"{split}.tsv").read_text(encoding="utf-8").splitlines():
        text, ids, _ = line.split("\t")
        row = np.zeros(N_EMOTIONS, dtype=np.float32)
        for i in ids.split(","):
            row[int(i)] = 1.0
        texts.append(text)
        labels.append(row)
    return texts, np.stack(labels)


