"""Exact decoders for a piecewise-constant Poisson intensity (the paper's multi-event form).

Time rescaling: with Λ(t) the cumulative intensity, z_i = Λ(t_i) are the order statistics of n uniforms
on [0, Λ_T], so z_i / Λ_T ~ Beta(i, n - i + 1). All functions take the log-intensity of the valid frames
(T,) and the frame width Δ; times are in frame-width units times Δ from the grid's start (offset 0).
"""
from __future__ import annotations

import numpy as np
from scipy.special import betaincinv


def knots(log_intensity: np.ndarray, frame_shift_s: float) -> np.ndarray:
    """(T + 1,) cumulative intensity at the frame boundaries: Λ(kΔ), Λ(0) = 0."""
    lam = np.exp(np.asarray(log_intensity, dtype=np.float64))
    return np.concatenate([[0.0], np.cumsum(lam) * frame_shift_s])


def expected_count(log_intensity: np.ndarray, frame_shift_s: float) -> float:
    """Λ_T, the expected number of events under the full IHP model."""
    return float(knots(log_intensity, frame_shift_s)[-1])


def count_from_intensity(log_intensity: np.ndarray, frame_shift_s: float, minimum: int = 0,
                         maximum: int | None = None) -> int:
    """Most probable event count (the Poisson mode floor(Λ_T)), clipped to the user's bounds."""
    n = int(np.floor(expected_count(log_intensity, frame_shift_s)))
    n = max(n, minimum)
    return n if maximum is None else min(n, maximum)


def inverse_cumulative(z: np.ndarray, cumulative: np.ndarray, frame_shift_s: float) -> np.ndarray:
    """Times t with Λ(t) = z, inverting the piecewise-linear Λ (flat stretches resolve leftmost)."""
    times = np.arange(len(cumulative)) * frame_shift_s
    z = np.asarray(z, dtype=np.float64)
    k = np.clip(np.searchsorted(cumulative, z, side="left") - 1, 0, len(cumulative) - 2)
    width = cumulative[k + 1] - cumulative[k]
    frac = np.where(width > 0, (z - cumulative[k]) / np.where(width > 0, width, 1.0), 0.0)
    return times[k] + np.clip(frac, 0.0, 1.0) * frame_shift_s


def posterior_quantiles(log_intensity: np.ndarray, n: int, frame_shift_s: float,
                        q: np.ndarray | list[float]) -> np.ndarray:
    """(n, Q) quantiles of the i-th event time: t = Λ^{-1}(Λ_T · BetaInv(q; i, n - i + 1))."""
    cumulative = knots(log_intensity, frame_shift_s)
    i = np.arange(1, n + 1, dtype=np.float64)[:, None]
    z = cumulative[-1] * betaincinv(i, n - i + 1, np.asarray(q, dtype=np.float64)[None, :])
    return inverse_cumulative(z, cumulative, frame_shift_s)


def posterior_median(log_intensity: np.ndarray, n: int, frame_shift_s: float) -> np.ndarray:
    return posterior_quantiles(log_intensity, n, frame_shift_s, [0.5])[:, 0]


def posterior_mode(log_intensity: np.ndarray, n: int, frame_shift_s: float) -> np.ndarray:
    """(n,) argmax_t of Λ(t)^{i-1} (Λ_T - Λ(t))^{n-i} λ(t), exact.

    Inside frame k the density is concave in Λ with λ fixed, so its maximum is at a frame boundary
    (evaluated with that frame's λ) or at the Beta mode z* = Λ_T (i-1)/(n-1) when z* falls in the frame.
    """
    l = np.asarray(log_intensity, dtype=np.float64)
    cumulative = knots(l, frame_shift_s)
    total = cumulative[-1]
    T = len(l)
    left, right = cumulative[:-1], cumulative[1:]  # (T,)
    i = np.arange(1, n + 1, dtype=np.float64)[:, None]  # (n, 1)
    z_star = total * (i - 1) / (n - 1) if n > 1 else (left + right)[None, :] / 2
    z_in = np.clip(np.broadcast_to(z_star, (n, T)), left[None], right[None])  # (n, T)
    # interior point first, so ties (a flat density for n = 1) resolve to it, not to a frame edge
    candidates = np.stack([z_in, np.broadcast_to(left, (n, T)), np.broadcast_to(right, (n, T))])

    with np.errstate(divide="ignore", invalid="ignore"):
        score = ((i - 1) * np.log(candidates) + (n - i) * np.log(np.maximum(total - candidates, 0.0))
                 + l[None, None, :])
        score = np.where(((i - 1) == 0) & (candidates == 0), l[None, None, :] + (n - i) *
                         np.log(np.maximum(total - candidates, 0.0)), score)
        score = np.where(((n - i) == 0) & (candidates >= total), l[None, None, :] + (i - 1) *
                         np.log(np.maximum(candidates, 1e-300)), score)
    score = np.nan_to_num(score, nan=-np.inf)
    flat = score.transpose(1, 0, 2).reshape(n, -1)  # (n, 3T)
    best = np.argmax(flat, axis=1)
    which, frame = best // T, best % T
    z = candidates[which, np.arange(n), frame]
    width = right[frame] - left[frame]
    frac = np.where(width > 0, (z - left[frame]) / np.where(width > 0, width, 1.0), 0.5)
    return (frame + frac) * frame_shift_s
