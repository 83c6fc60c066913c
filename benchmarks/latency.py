"""Per-turn latency of the guard on this machine: linguistic detectors, and the learned scorer.

    python benchmarks/latency.py [--runs 2000] [--model-runs 300]

Linguistic: reply-side analysis + the four detectors for a ~150-word reply (the reference is
prepared beforehand, as ``Guard.wrap`` does while the LLM generates), and a cold check of both
sides. Learned: reply-side encoding of a 128-token reply + all heads with the shipped int8 ONNX
model; in the same run, for comparison, the same encoder as fp32 ONNX (optimised, not quantised;
exported by training/export.py into training/checkpoints/onnx) and in PyTorch eager (when torch and
transformers are installed). Medians and p95 in milliseconds, ratios against int8.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from guardrail import Guard, load_policy
from guardrail.detectors import Pair, default_detectors
from guardrail.text.profile import profile_text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # training.train, for the PyTorch-eager comparison
FP32 = ROOT / "training" / "checkpoints" / "onnx" / "encoder_fp32_opt.onnx"
USER = ("my dad died on tuesday. heart attack, he was 58. i keep picking up my phone to text him and then i "
        "remember and just fall apart. my sister wants me to help plan the funeral and i can't even think")
REPLY_150 = (
    "I'm so sorry about your dad. Fifty-eight is far too young, and losing him that suddenly, with no warning "
    "at all, is a shock that takes a long time to land. Reaching for your phone to text him and then "
    "remembering is one of the cruelest parts of early grief; your hands still know the habit before the rest "
    "of you can catch up. Falling apart in those moments makes complete sense. It is also okay that you can't "
    "think straight about the funeral right now. You don't have to plan all of it. Could you tell your sister "
    "which one or two things you feel able to take on, like choosing a song or a photo, and leave the rest to "
    "her for now? And how are you doing with the basics, sleep and food, since Tuesday? I'm here if you want "
    "to tell me about him."
)


def measure(fn: Callable[[], object], runs: int, warmup: int = 20) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 3),
            "p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 3), "runs": runs}


def linguistic(runs: int) -> dict[str, object]:
    guard = Guard(load_policy(model="off"), sinks=[])
    guard.prepare(USER)
    counter = iter(range(10**9))  # a fresh reply each run: nothing comes from the cache

    def reply_side() -> None:
        guard.check(user=USER, response=f"{REPLY_150} ({next(counter)})")

    def cold() -> None:
        n = next(counter)
        guard.check(user=f"{USER} ({n})", response=f"{REPLY_150} ({n})")

    return {"reply_words": len(REPLY_150.split()), "reply_side": measure(reply_side, runs),
            "cold_both_sides": measure(cold, runs)}


def learned(runs: int, threads: int) -> dict[str, object] | None:
    try:
        from guardrail.models.learned import LearnedScorer
        from guardrail.models.manifest import model_dir
    except ImportError:
        return None
    if not (model_dir() / "manifest.json").is_file():
        return None
    int8 = LearnedScorer(threads=threads, cache_size=8)
    ids = int8.tokenizer.encode(REPLY_150, add_special_tokens=False).ids[:126]
    reply = int8.tokenizer.decode(ids)  # 126 word pieces + [CLS] [SEP] = 128 tokens
    detectors = default_detectors()
    pair = Pair(profile_text(USER), profile_text(reply), full_evidence=True)
    findings = [d.assess(pair) for d in detectors]
    int8.encode(USER)

    def scorer_step(scorer: LearnedScorer) -> Callable[[], object]:
        def step() -> object:
            scorer._cache.pop(reply, None)  # the reply is new every turn; the reference is cached
            return scorer.fuse(pair, findings)
        return step

    encoder_file = int8.directory / int8.manifest.files["encoder_int8"].path
    report: dict[str, object] = {
        "tokens": len(ids) + 2, "threads": threads,
        "model_file_mb": round(encoder_file.stat().st_size / 2**20, 1),
        "int8_onnx": measure(scorer_step(int8), runs),
    }
    if FP32.is_file():
        fp32 = LearnedScorer(threads=threads, cache_size=8, encoder_path=FP32)
        fp32.encode(USER)
        report["fp32_onnx"] = measure(scorer_step(fp32), runs)
    layers = int(int8.manifest.training.get("layers", 6))
    report["encoder_layers"] = layers
    ffn = int8.manifest.training.get("ffn")  # None: MiniLM's full feed-forward width
    report["pytorch_eager_fp32"] = _torch_eager(ids, runs, threads, layers, ffn)
    base = report["int8_onnx"]["median_ms"]  # type: ignore[index]
    for key in ("fp32_onnx", "pytorch_eager_fp32"):
        if isinstance(report.get(key), dict):
            report[key]["x_int8"] = round(report[key]["median_ms"] / base, 2)  # type: ignore[index]
    return report


def _torch_eager(ids: list[int], runs: int, threads: int, layers: int, ffn: int | None
                 ) -> dict[str, float] | str:
    """The same encoder architecture in PyTorch eager (fine-tuned weights if a checkpoint exists)."""
    try:
        import torch

        from training.train import Encoder, base_model_dir
    except ImportError:
        return "torch/transformers not installed (training extras)"
    torch.set_num_threads(threads)
    encoder = Encoder(base_model_dir(), frozen=layers, layers=layers, ffn=ffn)
    checkpoint = ROOT / "training" / "checkpoints" / "run" / "best.pt"
    if checkpoint.is_file():
        encoder.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=False)["encoder"])
    encoder.eval()
    x = torch.tensor([[101, *ids, 102]])
    mask = torch.ones_like(x)

    def step() -> object:
        with torch.no_grad():
            return encoder.top(encoder.bottom(x, mask), mask)

    return measure(step, runs)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--model-runs", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "linguistic": linguistic(args.runs),
        "learned": learned(args.model_runs, args.threads) or "no model installed",
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
