"""Word-boundary metrics (DESIGN.md §7): errors of onsets and offsets matched 1:1 in order."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

THRESHOLDS_S = (0.010, 0.020, 0.025, 0.040, 0.050, 0.100)


@dataclass(frozen=True)
class BoundaryStats:
    count: int
    mae_s: float
    within: dict[float, float]  # threshold_s -> fraction within

    def as_dict(self) -> dict:
        return {"count": self.count, "mae_ms": round(self.mae_s * 1000, 2),
                **{f"within_{int(round(t * 1000))}ms": round(100 * v, 2) for t, v in self.within.items()}}


def boundary_stats(errors_s: np.ndarray, thresholds_s=THRESHOLDS_S) -> BoundaryStats:
    """Summary of absolute errors (seconds); an empty set gives count 0 and NaN MAE."""
    e = np.abs(np.asarray(errors_s, dtype=np.float64))
    if e.size == 0:
        return BoundaryStats(0, float("nan"), {t: float("nan") for t in thresholds_s})
    # a 1e-9 tolerance keeps errors that equal a threshold (up to float noise) inside it
    return BoundaryStats(int(e.size), float(e.mean()), {t: float(np.mean(e <= t + 1e-9)) for t in thresholds_s})


def word_errors(pred: list[tuple[float, float]], ref: list[tuple[float, float]],
                score_first_onset: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Onset and offset errors (pred - ref, seconds) of words matched in order; lengths must agree."""
    if len(pred) != len(ref):
        raise ValueError(f"cannot match {len(pred)} predicted words with {len(ref)} reference words")
    p = np.asarray(pred, dtype=np.float64).reshape(-1, 2)
    r = np.asarray(ref, dtype=np.float64).reshape(-1, 2)
    onsets = p[:, 0] - r[:, 0]
    if not score_first_onset:
        onsets = onsets[1:]
    return onsets, p[:, 1] - r[:, 1]


def aas_s(onset: BoundaryStats, offset: BoundaryStats) -> float:
    """Average absolute shift: the mean of onset and offset MAE."""
    return (onset.mae_s + offset.mae_s) / 2
