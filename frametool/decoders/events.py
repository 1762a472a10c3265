"""Events of one label from its three frame channels: activity probability a_k, onset and offset intensities
λ_k (events per second) on a FrameGrid.

1. Onsets: the onset intensity's local maxima, highest first, each taken when the expected number of onsets
   in the frames around it (Δ·Σλ over ±`mass_frames`) reaches `onset_mass`, and at least `min_gap_s` from
   an onset already taken (with `onset_first`, each then moves back to the earliest such peak it shut out).
   A run of activity above `activity` (runs less than `min_gap_s` apart count as
   one) that no onset starts gets one at its start.
2. Each onset's offset: the offset intensity's strongest frame after it, before the next onset and within
   `max_duration_s` (with `offset_until_quiet`, also before activity has stayed below `activity` for
   `min_gap_s`); where that stretch holds less than `offset_mass` expected offsets, the frame where
   activity falls below `activity`.
3. An event is kept when its mean activity (its confidence) reaches `activity`.
4. Events less than `merge_gap_s` apart become one (the first onset, the last offset, the mean activity).
Labels that never sound together (`exclusive`, e.g. one bird's syllables) are decoded as one stream: the
superposition of the labels' Poisson processes has the summed intensity, and the probability that any label
sounds is the sum of theirs (capped at 1); each event found in that stream takes the label with the highest
mean activity over it, and its confidence is that label's mean activity.
Times are frame centres. The 90 % credible interval of an onset (offset) runs from the start of the frame
holding the 5 % quantile to the end of the frame holding the 95 % quantile of its intensity normalised over
the frames between its neighbours (the event's own Poisson posterior given that exactly one event lies there).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frametool.annotation import Item
from frametool.decoders.peaks import local_maxima, hysteresis
from frametool.framegrid import FrameGrid


@dataclass(frozen=True)
class DecodeConfig:
    activity: float = 0.5
    onset_mass: float = 0.5
    mass_frames: int = 3
    min_gap_s: float = 0.015
    min_duration_s: float = 0.01
    max_duration_s: float = 2.0
    offset_mass: float = 0.3
    # the model's labels never sound together (one bird's syllables): decode them as one stream
    exclusive: bool = False
    # an onset's offset is looked for only until activity has stayed below `activity` for `min_gap_s` (the
    # event has stopped sounding), so an offset peak of a later sound cannot stretch it over the silence
    offset_until_quiet: bool = False
    # events of the label less than this apart (one's offset to the next one's onset) are one event: the first
    # one's onset, the last one's offset (a sound with pauses, such as an alarm's beeps, is one event)
    merge_gap_s: float = 0.0
    # an onset taken (highest first) moves back to the earliest onset peak with enough mass that it shut out
    # within `min_gap_s` before it: an event starts at its first beep, not at its loudest
    onset_first: bool = False


def _quantiles(weights: np.ndarray, lo: int, q=(0.05, 0.95)) -> tuple[int, int]:
    w = np.asarray(weights, dtype=np.float64)
    total = w.sum()
    if total <= 0 or not np.isfinite(total):
        return lo, lo + max(0, len(w) - 1)
    cdf = np.cumsum(w) / total
    a = int(np.searchsorted(cdf, q[0]))
    b = int(np.searchsorted(cdf, q[1]))
    return lo + min(a, len(w) - 1), lo + min(b, len(w) - 1)


def pick_onsets(onset: np.ndarray, dt: float, config: DecodeConfig) -> list[int]:
    """Frames of the onsets (sorted), by the mass rule of step 1."""
    T = len(onset)
    csum = np.concatenate([[0.0], np.cumsum(onset) * dt])
    w = config.mass_frames
    gap = max(1, int(round(config.min_gap_s / dt)))
    peaks = local_maxima(onset)
    mass = csum[np.minimum(T, peaks + w + 1)] - csum[np.maximum(0, peaks - w)]
    # peaks are taken in falling order of height, but mass need not fall with height: every peak is looked at
    qualifying = peaks[mass >= config.onset_mass]
    chosen: list[int] = []
    taken = np.zeros(T, dtype=bool)
    for p in qualifying[np.argsort(-onset[qualifying], kind="stable")]:
        p = int(p)
        if taken[max(0, p - gap + 1):p + gap].any():
            continue
        chosen.append(p)
        taken[p] = True
    chosen.sort()
    if config.onset_first:
        moved: list[int] = []
        for p in chosen:
            floor = moved[-1] + gap if moved else 0
            k = int(np.searchsorted(qualifying, max(p - gap, floor - 1), side="right"))  # first peak past both
            moved.append(int(qualifying[k]) if k < len(qualifying) and qualifying[k] < p else p)
        chosen = moved
    return chosen


def _quiet_starts(activity: np.ndarray, threshold: float, frames: int) -> np.ndarray:
    """(T + 1,): for every frame k, the first frame at or after k that starts `frames` consecutive frames below
    `threshold` (T when there is none)."""
    T = len(activity)
    below = np.concatenate([[0], np.cumsum(np.asarray(activity) < threshold)])
    starts = np.full(T + 1, T, dtype=np.int64)
    k = np.arange(max(0, T - frames + 1))
    hits = k[below[k + frames] - below[k] == frames]
    starts[hits] = hits
    return np.minimum.accumulate(starts[::-1])[::-1]


def decode_events(values: np.ndarray, grid: FrameGrid, label: str, config: DecodeConfig = DecodeConfig()
                  ) -> list[Item]:
    """values (T, 3): activity probability, onset and offset intensity per second. -> the label's events."""
    activity, onset, offset = (np.asarray(values[:, c], dtype=np.float64) for c in range(3))
    T, dt = len(activity), grid.frame_shift_s
    onsets = pick_onsets(onset, dt, config)
    min_frames = max(1, int(round(config.min_duration_s / dt)))
    gap = max(1, int(round(config.min_gap_s / dt)))
    runs: list[list[int]] = []
    for a, b in hysteresis(activity, config.activity, config.activity, min_frames):
        if runs and a - runs[-1][1] < gap:  # a dip shorter than min_gap_s does not start a new event
            runs[-1][1] = b
        else:
            runs.append([a, b])
    for a, b in runs:
        # sounding, but no onset in or near it: it starts where activity rises
        if not any(a - gap < o < b for o in onsets):
            onsets.append(a)
    onsets.sort()
    max_frames = max(min_frames, int(round(config.max_duration_s / dt)))
    ocsum = np.concatenate([[0.0], np.cumsum(offset) * dt])
    quiet_from = _quiet_starts(activity, config.activity, gap) if config.offset_until_quiet else None
    items: list[Item] = []
    previous_end = 0
    for i, start in enumerate(onsets):
        limit = min(T, onsets[i + 1] + 1 if i + 1 < len(onsets) else T, start + max_frames + 1)
        if quiet_from is not None:
            limit = min(limit, int(quiet_from[min(T, start + min_frames)]) + 1)
        lo = start + min_frames
        if lo >= limit:
            lo = min(start + 1, T)
            if lo >= limit:
                continue
        if ocsum[limit] - ocsum[lo] >= config.offset_mass:
            end = lo + int(np.argmax(offset[lo:limit]))
        else:
            quiet = np.flatnonzero(activity[start + 1:limit] < config.activity)
            end = start + 1 + int(quiet[0]) if len(quiet) else limit - 1
        confidence = float(activity[start:end + 1].mean())
        if confidence < config.activity:
            continue
        on_lo = previous_end
        on_hi = min(end, onsets[i + 1] if i + 1 < len(onsets) else T)
        ci_on = _quantiles(onset[on_lo:on_hi], on_lo) if on_hi > on_lo else (start, start)
        off_hi = onsets[i + 1] + 1 if i + 1 < len(onsets) else min(T, start + max_frames + 1)
        ci_off = _quantiles(offset[start + 1:off_hi], start + 1) if off_hi > start + 1 else (end, end)
        centre = lambda k: float(grid.center_s(int(k)))  # noqa: E731
        span = lambda lo, hi: (float(grid.start_s(int(lo))), float(grid.start_s(int(hi) + 1)))  # noqa: E731
        items.append(Item(label, centre(start), centre(end), span(min(ci_on[0], start), max(ci_on[1], start)),
                          span(min(ci_off[0], end), max(ci_off[1], end)), round(confidence, 4)))
        previous_end = end
    return _merged(items, activity, grid, config.merge_gap_s) if config.merge_gap_s > 0 else items


def _merged(items: list[Item], activity: np.ndarray, grid: FrameGrid, gap_s: float) -> list[Item]:
    """Consecutive events less than `gap_s` apart joined: the first onset (and its interval), the last offset
    (and its interval), the mean activity over the joined span as confidence."""
    out: list[Item] = []
    for item in items:
        if out and item.start_s - out[-1].end_s < gap_s:
            first = out[-1]
            end_s, end_ci = (item.end_s, item.end_ci_s) if item.end_s >= first.end_s else (first.end_s, first.end_ci_s)
            a, b = grid.frame_of(first.start_s), grid.frame_of(end_s)
            out[-1] = Item(first.label, first.start_s, end_s, first.start_ci_s, end_ci,
                           round(float(activity[a:b + 1].mean()), 4), first.flags)
        else:
            out.append(item)
    return out


def decode_exclusive(values: np.ndarray, grid: FrameGrid, labels: list[str], config: DecodeConfig) -> list[Item]:
    """values (C, T, 3) of labels that never overlap -> events of the summed stream, each labelled by the label
    with the highest mean activity over it."""
    summed = np.stack([np.minimum(values[..., 0].sum(0), 1.0), values[..., 1].sum(0), values[..., 2].sum(0)], -1)
    out = []
    for item in decode_events(summed, grid, "*", config):
        a, b = grid.frame_of(item.start_s), grid.frame_of(item.end_s)
        means = values[:, a:b + 1, 0].mean(axis=1)
        best = int(np.argmax(means))
        out.append(Item(labels[best], item.start_s, item.end_s, item.start_ci_s, item.end_ci_s,
                        round(float(means[best]), 4), item.flags))
    return out


def decode_channels(values: np.ndarray, grid: FrameGrid, labels: list[str], config: DecodeConfig,
                    per_label: dict[str, DecodeConfig] | None = None) -> list[Item]:
    """values (C, T, 3) for `labels` -> their events sorted by onset: one stream for exclusive labels, else
    label by label, each with its own settings where `per_label` has them."""
    if config.exclusive:
        items = decode_exclusive(values, grid, labels, config)
    else:
        per_label = per_label or {}
        items = [item for c, label in enumerate(labels)
                 for item in decode_events(values[c], grid, label, per_label.get(label, config))]
    return sorted(items, key=lambda it: (it.start_s, it.label))


def decode_settings(decoding: dict) -> tuple[DecodeConfig, dict[str, DecodeConfig]]:
    """A model's `decoding` settings -> (the shared DecodeConfig, per-label DecodeConfigs): keys are DecodeConfig
    fields, and `per_label` maps a label to the fields where it differs."""
    shared = {k: v for k, v in decoding.items() if k != "per_label"}
    return DecodeConfig(**shared), {label: DecodeConfig(**{**shared, **own})
                                    for label, own in decoding.get("per_label", {}).items()}
