"""The learned half of the detectors: one int8 ONNX encoder pass per text, small heads per pair.

Run time needs onnxruntime and tokenizers only. Each text is encoded once (cached), so the
reference can be encoded while the LLM generates. Long texts are encoded over token windows
whose vectors are averaged, never silently truncated.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from threading import Lock

import numpy as np

from guardrail.detectors.base import Pair, clamp, finding
from guardrail.models.features import FEATURE_NAMES, pair_features
from guardrail.models.fusion import calibrate, gates_from_features
from guardrail.models.manifest import Manifest, load_manifest
from guardrail.models.windows import load_tokenizer, token_windows
from guardrail.types import MECHANISMS, Finding, Mechanism, Span

#: what each mechanism means, for findings the model raises without linguistic evidence
_MODEL_EXPLANATIONS: dict[Mechanism, str] = {
    "attenuation": "The reply does not carry the strength of feeling in the person's message.",
    "granularity": "The reply's empathy does not fit the feelings and details the person gave.",
    "conflict_avoidance": "The reply smooths over the conflict instead of engaging with it and asking what matters.",
    "distancing": "The reply talks about the person from an impersonal distance.",
}


def _constant(spans: list[Span]) -> Callable[[], list[Span]]:
    return lambda: spans


@dataclass(frozen=True, slots=True)
class TextEncoding:
    vector: np.ndarray
    windows: int


class LearnedScorer:
    """Encodes texts with the shipped ONNX encoder and fuses the heads' probabilities into findings."""

    def __init__(self, directory: Path | None = None, *, threads: int = 2, cache_size: int = 512,
                 encoder_path: Path | None = None) -> None:
        import onnxruntime as ort

        self.manifest, self.directory = load_manifest(directory)
        m: Manifest = self.manifest
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # idle worker threads must not spin: they would steal the cores the next run (and the
        # rest of the application) needs; measured 2–4x slower turns on a busy 2-core machine
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        head_options = ort.SessionOptions()
        head_options.intra_op_num_threads = 1  # a small MLP: one thread, no hand-off
        head_options.inter_op_num_threads = 1
        # encoder_path: another encoder file of the same model (the fp32 one, for comparisons)
        encoder_file = encoder_path or self.directory / m.files["encoder_int8"].path
        self.encoder = ort.InferenceSession(str(encoder_file), options,
                                            providers=["CPUExecutionProvider"])
        self.heads = ort.InferenceSession(str(self.directory / m.files["heads"].path), head_options,
                                          providers=["CPUExecutionProvider"])
        self.tokenizer = load_tokenizer(self.directory / m.files["tokenizer"].path)
        if list(m.features) != list(FEATURE_NAMES):
            raise ValueError("the model was trained on other linguistic features than this code computes")
        self.thresholds = np.array([m.thresholds[k] for k in MECHANISMS], dtype=np.float32)
        self._cache: OrderedDict[str, TextEncoding] = OrderedDict()
        self._cache_size = cache_size
        self._lock = Lock()

    # --- encoding ------------------------------------------------------------------------------
    def encode(self, text: str) -> TextEncoding:
        """The text's vector (cached): windows encoded in one batch, averaged by length."""
        with self._lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        windows = token_windows(self.tokenizer, text, self.manifest.max_len)
        width = max(len(w) for w in windows)
        ids = np.zeros((len(windows), width), dtype=np.int64)
        mask = np.zeros((len(windows), width), dtype=np.int64)
        for r, w in enumerate(windows):
            ids[r, : len(w)] = w
            mask[r, : len(w)] = 1
        pooled = self.encoder.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        weights = mask.sum(1, keepdims=True).astype(np.float32)
        vector = (pooled * weights).sum(0) / weights.sum()
        encoding = TextEncoding(vector.astype(np.float32), len(windows))
        with self._lock:
            self._cache[text] = encoding
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return encoding

    # --- scoring -------------------------------------------------------------------------------
    def predict(self, pair: Pair, features: list[float]) -> dict[str, np.ndarray]:
        """Raw head outputs for a pair (``features`` from ``pair_features``): emotions,
        intensities, failure probabilities."""
        u = self.encode(pair.reference.text).vector[None, :]
        v = self.encode(pair.reply.text).vector[None, :]
        feats = np.asarray([features], dtype=np.float32)
        names = [o.name for o in self.heads.get_outputs()]
        outputs = self.heads.run(None, {"reference": u, "reply": v, "features": feats})
        return {name: value[0] for name, value in zip(names, outputs, strict=True)}

    def fuse(self, pair: Pair, findings: list[Finding]) -> list[Finding]:
        """Findings scored by the model (calibrated, held to the reference's preconditions);
        explanations and evidence stay linguistic where the linguistic detectors saw something."""
        features = pair_features(pair, findings)
        out = self.predict(pair, features)
        gates = gates_from_features(features, float(out["intensity_reference"]))
        scores = calibrate(out["failures"] * gates, self.thresholds)
        labels = self.manifest.emotion_labels
        user_emotion = labels[int(np.argmax(out["emotions_reference"]))]
        reply_emotion = labels[int(np.argmax(out["emotions_reply"]))]
        fused = []
        for f in findings:
            j = MECHANISMS.index(f.mechanism)
            score = clamp(float(scores[j]))
            explanation = f.explanation
            if score >= 0.5 and f.score < 0.2:
                explanation = _MODEL_EXPLANATIONS[f.mechanism]
            details = {**f.details, "model_probability": round(float(out["failures"][j]), 4),
                       "linguistic_score": f.score, "reference_gate": round(float(gates[j]), 3),
                       "model_reference_intensity": round(float(out["intensity_reference"]), 3),
                       "model_reply_intensity": round(float(out["intensity_reply"]), 3),
                       "model_user_emotion": user_emotion, "model_reply_emotion": reply_emotion}
            fused.append(finding(f.mechanism, score, explanation, _constant(f.evidence), **details))
        return fused
