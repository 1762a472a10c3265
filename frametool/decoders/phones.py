"""Phone boundaries inside a decoded word, from the phone pointer head's per-phone onset intensities.

A word of P phones has P - 1 inner boundaries (its first phone starts with the word, its last ends with
it). Their frames f_1 <= ... <= f_{P-1} are chosen jointly, inside the word's frames, by the same monotonic
dynamic programme as the words (decoders/monotonic.py); each boundary is then summarised by the median of
its posterior restricted to the frames its neighbours leave (sub-frame: the density is uniform within a
frame), with a 90 % credible interval, and clamped into the word so every phone lies inside it.
Times are in seconds; frames <-> seconds go through the FrameGrid.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frametool.decoders.monotonic import log_softmax, monotonic_path
from frametool.framegrid import FrameGrid

MIN_PHONE_S = 0.005  # inner boundaries keep at least this much between them where the word allows it


@dataclass(frozen=True)
class PhoneTimes:
    """The phones of one word."""

    labels: tuple[str, ...]
    start_s: np.ndarray  # (P,)
    end_s: np.ndarray  # (P,)
    start_ci_s: np.ndarray  # (P, 2) 5 % and 95 % quantiles (the first phone's is its word's)

    def shifted(self, offset_s: float) -> "PhoneTimes":
        return PhoneTimes(self.labels, self.start_s + offset_s, self.end_s + offset_s, self.start_ci_s + offset_s)


QUANTILES = np.array([0.05, 0.5, 0.95])


def restricted_quantiles(logp: np.ndarray, left: np.ndarray, right: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row by row what decoders.monotonic._restricted_quantiles gives: quantiles `q` (continuous frame
    coordinates) of row j's piecewise-uniform density over frames left[j]..right[j]. logp (J, F) -> (J, len(q))."""
    J, F = logp.shape
    f = np.arange(F)
    inside = (f[None] >= left[:, None]) & (f[None] <= right[:, None])
    peak = np.max(np.where(inside, logp, -np.inf), axis=1, keepdims=True)
    p = np.where(inside, np.exp(np.where(inside, logp, peak) - peak), 0.0)
    c = np.cumsum(p, axis=1)
    target = q[None, :] * c[:, -1:]  # (J, Q) mass below each quantile
    k = np.minimum(np.sum(c[:, None, :] < target[:, :, None], axis=2), F - 1)  # the frame it falls in
    rows = np.arange(J)[:, None]
    mass = p[rows, k]
    before = c[rows, k] - mass
    return k + np.where(mass > 0, (target - before) / np.where(mass > 0, mass, 1.0), 0.0)


def decode_word_phones(labels: tuple[str, ...], onset_logits: np.ndarray, start_s: float, end_s: float,
                       grid: FrameGrid, start_ci_s: tuple[float, float] | None = None) -> PhoneTimes:
    """labels (P,); onset_logits (P, T) log-intensities of each phone's onset over the grid's frames; the
    word's decoded interval [start_s, end_s] -> the word's phones, each inside that interval."""
    P = len(labels)
    starts, ends = np.full(P, start_s), np.full(P, end_s)
    ci = np.tile([start_s, start_s] if start_ci_s is None else list(start_ci_s), (P, 1)).astype(np.float64)
    if P > 1 and end_s > start_s:
        T = onset_logits.shape[1]
        a_f, b_f = float(grid.fractional(start_s)), float(grid.fractional(end_s))
        lo = int(np.clip(np.floor(a_f), 0, T - 1))
        hi = int(np.clip(np.ceil(b_f) - 1, lo, T - 1))
        inner = log_softmax(onset_logits[1:, lo:hi + 1])  # (P - 1, F), frames lo..hi
        path = monotonic_path(inner)  # local frames
        left = np.concatenate([[0], path[:-1]])  # each boundary's posterior between its neighbours' frames
        right = np.concatenate([path[1:], [hi - lo]])
        inner_q = lo + restricted_quantiles(inner, left, right, QUANTILES)
        times = np.clip(grid.time_of(inner_q), start_s, end_s)  # (P - 1, 3)
        bounds = np.concatenate([[start_s], times[:, 1], [end_s]])
        gap = min(MIN_PHONE_S, (end_s - start_s) / P)
        for j in range(1, P):  # ordered, a little apart, inside the word
            bounds[j] = min(max(bounds[j], bounds[j - 1] + gap), end_s - gap * (P - j))
        starts, ends = bounds[:-1].copy(), bounds[1:].copy()
        ci[1:] = np.stack([np.minimum(times[:, 0], starts[1:]), np.maximum(times[:, 2], starts[1:])], axis=1)
    return PhoneTimes(tuple(labels), starts, ends, ci)
