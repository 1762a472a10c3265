"""Joint monotonic decoding of per-word pointer intensities (onset and offset of every word).

Given log-posteriors over frames for each word's onset and offset, find frames
a_0 <= b_0 <= a_1 <= b_1 <= ... maximising Σ_i on[i, a_i] + off[i, b_i] (a chain of 2W monotone choices,
O(W·T) with running maxima). Each boundary's posterior is then restricted to the interval its
neighbours leave, and summarised by its median (default) or mode and a 90 % credible interval. Where one
word ends less than two frames before the next begins, both are one boundary, placed by the product of
the two posteriors.
Times are in seconds from the grid's start; frame <-> seconds goes through the FrameGrid.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frametool.framegrid import FrameGrid

DECODE_METHODS = ("median", "mode")


@dataclass(frozen=True)
class WordTimes:
    start_s: np.ndarray  # (W,)
    end_s: np.ndarray
    start_ci_s: np.ndarray  # (W, 2) 5 % and 95 % quantiles
    end_ci_s: np.ndarray
    confidence: np.ndarray  # (W,) in [0, 1]
    # per word its phones (decoders/phones.PhoneTimes; None: not asked for, or no pronunciation)
    phones: tuple | None = None


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


def monotonic_path(scores: np.ndarray) -> np.ndarray:
    """(S, T) scores of S ordered boundaries -> (S,) frames f_0 <= f_1 <= ... maximising the sum."""
    S, T = scores.shape
    back = np.zeros((S, T), dtype=np.int64)
    value = scores[0].astype(np.float64)
    for s in range(1, S):
        best_idx = _running_argmax(value)  # best previous frame <= k
        back[s] = best_idx
        value = scores[s] + value[best_idx]
    path = np.zeros(S, dtype=np.int64)
    path[-1] = int(np.argmax(value))
    for s in range(S - 1, 0, -1):
        path[s - 1] = back[s, path[s]]
    return path


def _running_argmax(values: np.ndarray) -> np.ndarray:
    """For every k, argmax of values[:k + 1] (first on ties)."""
    running = np.maximum.accumulate(values)
    is_new = np.concatenate([[True], values[1:] > running[:-1]])
    return np.maximum.accumulate(np.where(is_new, np.arange(len(values)), 0))


def _restricted_quantiles(logp: np.ndarray, lo: int, hi: int, q: np.ndarray) -> np.ndarray:
    """Quantiles (continuous frame coordinates) of a piecewise-uniform density over frames lo..hi."""
    p = np.exp(logp[lo:hi + 1] - np.max(logp[lo:hi + 1]))
    cdf = np.concatenate([[0.0], np.cumsum(p)]) / p.sum()
    return lo + np.interp(q, cdf, np.arange(len(cdf)))


TIE_FRAMES = 2.0  # chosen on our dev voices (dev-v2, dev-v3), never on ../shared/eval


def decode_words(onset_logits: np.ndarray, offset_logits: np.ndarray, grid: FrameGrid,
                 method: str = "median", tie_frames: float = TIE_FRAMES) -> WordTimes:
    """onset_logits, offset_logits (W, T) pointer log-intensities over the grid's valid frames.
    Adjacent words whose boundaries come out less than `tie_frames` apart share one boundary."""
    if method not in DECODE_METHODS:
        raise ValueError(f"unknown decode method {method!r}; choose from {DECODE_METHODS}")
    W, T = onset_logits.shape
    on, off = log_softmax(onset_logits), log_softmax(offset_logits)  # (W, T) each
    chain = np.empty((2 * W, T))
    chain[0::2], chain[1::2] = on, off
    path = monotonic_path(chain)
    a, b = path[0::2], path[1::2]
    quantiles = np.array([0.05, 0.5, 0.95])
    start_q, end_q = np.zeros((W, 3)), np.zeros((W, 3))
    for i in range(W):
        lo_on = b[i - 1] if i else 0
        hi_off = a[i + 1] if i + 1 < W else T - 1
        start_q[i] = _restricted_quantiles(on[i], lo_on, b[i], quantiles)
        end_q[i] = _restricted_quantiles(off[i], a[i], hi_off, quantiles)
    if method == "mode":
        start_c, end_c = a + 0.5, b + 0.5
    else:
        start_c, end_c = start_q[:, 1], end_q[:, 1]
    # keep boundaries ordered after summarising each one on its own
    starts, ends = np.zeros(W), np.zeros(W)
    floor = 0.0
    for i in range(W):
        starts[i] = max(start_c[i], floor)
        ends[i] = max(end_c[i], starts[i])
        floor = ends[i]
    # a gap shorter than `tie_frames` is not a pause: word i's offset and word i+1's onset are two readings
    # of one boundary, placed by the product of their two posteriors (its median, or its mode)
    for i in range(W - 1):
        if starts[i + 1] - ends[i] < tie_frames:
            lo, hi = int(starts[i]), min(int(ends[i + 1]), T - 1)
            if hi > lo:
                joint = on[i + 1] + off[i]
                shared = (_restricted_quantiles(joint, lo, hi, np.array([0.5]))[0] if method == "median"
                          else lo + int(np.argmax(joint[lo:hi + 1])) + 0.5)
            else:
                shared = (ends[i] + starts[i + 1]) / 2
            ends[i] = starts[i + 1] = min(max(shared, starts[i]), ends[i + 1])
    mass_on = np.array([np.exp(on[i, max(a[i] - 1, 0):a[i] + 2]).sum() for i in range(W)])
    mass_off = np.array([np.exp(off[i, max(b[i] - 1, 0):b[i] + 2]).sum() for i in range(W)])
    return WordTimes(grid.time_of(starts), grid.time_of(ends), grid.time_of(start_q[:, [0, 2]]),
                     grid.time_of(end_q[:, [0, 2]]), np.sqrt(mass_on * mass_off))
