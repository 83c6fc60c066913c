"""F1 scores and threshold selection shared by training and evaluation (numpy only)."""

from __future__ import annotations

import numpy as np


def f1(pred: np.ndarray, gold: np.ndarray) -> float:
    """Positive-class F1 of boolean predictions."""
    tp = float(np.sum(pred & gold))
    fp = float(np.sum(pred & ~gold))
    fn = float(np.sum(~pred & gold))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def macro_f1(pred: np.ndarray, gold: np.ndarray) -> float:
    """Mean F1 of both classes (flagged and not flagged)."""
    return (f1(pred, gold) + f1(~pred, ~gold)) / 2


def best_thresholds(probs: np.ndarray, labels: np.ndarray) -> list[float]:
    """Per mechanism, the threshold that maximises macro-F1 (both classes) on these examples."""
    out = []
    for j in range(probs.shape[1]):
        best, best_t = -1.0, 0.5
        for t in np.arange(0.1, 0.91, 0.02):
            score = macro_f1(probs[:, j] >= t, labels[:, j] > 0.5)
            if score > best:
                best, best_t = score, float(t)
        out.append(round(best_t, 2))
    return out
