"""Per-mechanism thresholds from reviewers' labels, for a target precision.

For each mechanism the labels give pairs (score the guard gave, confirmed by a person?). The new
threshold is the *lowest* score ``t`` at which the labelled turns scoring ``>= t`` reach the
target precision (share confirmed) — the most recall the labels allow at that precision.

What the labels can and cannot say:

- the review store holds flagged turns, so most labels sit above the current threshold; a
  reviewer can also confirm a mechanism the guard missed on a stored turn (its score is below
  the threshold), which is what lets calibration *lower* a threshold;
- below the lowest labelled score nothing is known, so the threshold never goes below
  ``min(current, lowest labelled score)``;
- with fewer than ``min_labels`` labels (or fewer than ``min_confirmed`` confirmed) a
  mechanism keeps its threshold; when no threshold reaches the target it keeps its threshold
  too and the report says so (consider a stronger model or disabling the mechanism).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from guardrail.types import MECHANISMS, Mechanism


@dataclass(frozen=True)
class Calibration:
    mechanism: Mechanism
    current: float
    threshold: float  # the new threshold (== current when unchanged)
    changed: bool
    labels: int
    confirmed: int
    rejected: int
    precision_current: float | None  # among labelled turns scoring >= current
    precision: float | None  # among labelled turns scoring >= threshold
    recall: float | None  # share of confirmed turns scoring >= threshold
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _precision_recall(samples: Sequence[tuple[float, bool]], threshold: float) -> tuple[float | None, float | None]:
    above = [ok for score, ok in samples if score >= threshold]
    confirmed = sum(ok for _, ok in samples)
    precision = sum(above) / len(above) if above else None
    recall = sum(above) / confirmed if confirmed else None
    return precision, recall


def _floor4(value: float) -> float:
    return math.floor(value * 10_000 + 1e-9) / 10_000


def calibrate_mechanism(mechanism: Mechanism, samples: Sequence[tuple[float, bool]], current: float, *,
                        target_precision: float = 0.9, min_labels: int = 20, min_confirmed: int = 5,
                        min_support: int = 5) -> Calibration:
    """The threshold for one mechanism; see the module docstring."""
    confirmed = sum(ok for _, ok in samples)
    rejected = len(samples) - confirmed
    p_now, _ = _precision_recall(samples, current)

    def keep(reason: str) -> Calibration:
        precision, recall = _precision_recall(samples, current)
        return Calibration(mechanism, current, current, False, len(samples), confirmed, rejected, p_now,
                           precision, recall, reason)

    if len(samples) < min_labels:
        return keep(f"only {len(samples)} labels (need {min_labels})")
    if confirmed < min_confirmed:
        return keep(f"only {confirmed} confirmed labels (need {min_confirmed})")
    min_support = max(1, min(min_support, min_labels))
    ordered = sorted(samples)
    lowest = ordered[0][0]
    # walk thresholds from high to low keeping running counts of what scores >= t
    best: float | None = None
    best_precision, best_at = -1.0, current
    conf_above = total_above = 0
    i = len(ordered) - 1
    while i >= 0:
        t = ordered[i][0]
        while i >= 0 and ordered[i][0] == t:
            conf_above += ordered[i][1]
            total_above += 1
            i -= 1
        precision = conf_above / total_above
        if total_above >= min_support and precision > best_precision:
            best_precision, best_at = precision, t
        if total_above >= min_support and precision >= target_precision:
            best = t  # keep going: a lower t that still meets the target wins
    if best is None and best_precision < 0:
        return keep(f"fewer than {min_support} labels at any threshold; kept")
    if best is None:
        return keep(f"no threshold reaches precision {target_precision:.2f} (best {best_precision:.2f} at "
                    f"{best_at:.3f}); kept")
    new = _floor4(best)
    if best == lowest and current < new:
        new = current  # nothing labelled below: no evidence for raising above the current threshold
    p_new, r_new = _precision_recall(samples, new)
    changed = not math.isclose(new, current, abs_tol=5e-5)
    reason = "unchanged: already meets the target" if not changed else (
        "raised to reach the target precision" if new > current else "lowered: confirmed misses below it")
    return Calibration(mechanism, current, new, changed, len(samples), confirmed, rejected, p_now, p_new,
                       r_new, reason)


def calibrate(samples: Mapping[Mechanism, Sequence[tuple[float, bool]]], current: Mapping[Mechanism, float], *,
              target_precision: float = 0.9, min_labels: int = 20, min_confirmed: int = 5,
              min_support: int = 5) -> dict[Mechanism, Calibration]:
    """Thresholds for every mechanism from ``samples`` (mechanism → [(score, confirmed)])."""
    if not 0.0 < target_precision <= 1.0:
        raise ValueError("target precision must be in (0, 1]")
    return {m: calibrate_mechanism(m, samples.get(m, []), current[m], target_precision=target_precision,
                                   min_labels=min_labels, min_confirmed=min_confirmed, min_support=min_support)
            for m in MECHANISMS if m in current}
