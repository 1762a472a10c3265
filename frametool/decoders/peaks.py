"""Decoders for binary per-frame scores: top-k peaks for events, hysteresis for activity."""
from __future__ import annotations

import numpy as np


def local_maxima(scores: np.ndarray) -> np.ndarray:
    """Indices of local maxima of (T,) scores; a plateau counts once (its first frame)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], s[1:] != s[:-1]]))  # first frame of each run
    if len(starts) == 1:  # a constant signal has no peak
        return np.zeros(0, dtype=np.int64)
    values = s[starts]
    before = np.concatenate([[-np.inf], values[:-1]])
    after = np.concatenate([values[1:], [-np.inf]])
    return starts[(values > before) & (values > after)]


def top_k_peaks(scores: np.ndarray, k: int, min_distance: int = 1) -> np.ndarray:
    """The k highest local maxima, at least `min_distance` frames apart, sorted in time."""
    peaks = local_maxima(scores)
    order = peaks[np.argsort(-np.asarray(scores)[peaks], kind="stable")]
    chosen: list[int] = []
    for p in order:
        if len(chosen) == k:
            break
        if all(abs(int(p) - c) >= min_distance for c in chosen):
            chosen.append(int(p))
    return np.sort(np.asarray(chosen, dtype=np.int64))


def hysteresis(scores: np.ndarray, high: float, low: float, min_frames: int = 1) -> list[tuple[int, int]]:
    """Segments [start, end) where scores rise above `high` and stay above `low`; shorter ones dropped."""
    if low > high:
        raise ValueError(f"hysteresis needs low <= high, got low={low}, high={high}")
    segments: list[tuple[int, int]] = []
    start = None
    for k, s in enumerate(np.asarray(scores, dtype=np.float64)):
        if start is None and s >= high:
            start = k
            # extend backwards while above low
            while start > 0 and scores[start - 1] >= low and (not segments or start - 1 >= segments[-1][1]):
                start -= 1
        elif start is not None and s < low:
            segments.append((start, k))
            start = None
    if start is not None:
        segments.append((start, len(scores)))
    return [(a, b) for a, b in segments if b - a >= min_frames]
