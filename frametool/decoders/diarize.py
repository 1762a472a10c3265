"""Speaker turns from a diarization model's frame channels (pure functions of arrays).

Channels, per frame of a FrameGrid, for S speaker slots and one `any_speaker` row (tasks/diarize.py):
- slot s (speaker s+1 in order of first speech): activity probability (is this speaker talking?), onset and
  offset intensities of its turns;
- `any_speaker`: activity = someone is talking; onset intensity = each speaker's FIRST onset (a Poisson
  process with one event per speaker, so its total Λ_T is the expected number of speakers); offset
  intensity = ends of stretches of speech.

Decoding one window:
1. The number of speakers n: the user's, else Λ_T of the speaker-onset channel rounded ("round") or its
   Poisson mode floor(Λ_T) ("floor"), clipped to the user's bounds; 0 when nobody talks.
2. Speaker onsets: the posterior medians of the n order statistics of that channel (decoders/poisson.py).
3. Turns: each of slots 1..n by hysteresis on its activity (overlap allowed); speech (the `any_speaker`
   activity) that no slot claims goes to the most active of the n slots; turns closer than `fill_gap_s` are
   joined, shorter than `min_turn_s` dropped; speakers renumbered by first speech.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frametool.annotation import Item
from frametool.decoders.peaks import hysteresis
from frametool.decoders.poisson import posterior_median
from frametool.framegrid import FrameGrid

COUNT_RULES = ("round", "floor")


@dataclass(frozen=True)
class DiarizeDecodeConfig:
    activity: float = 0.5  # a slot's turn starts above this probability ...
    activity_low: float = 0.35  # ... and lasts while above this one
    speech: float = 0.5  # the any-speaker activity above which a frame is speech
    min_turn_s: float = 0.2
    fill_gap_s: float = 0.3
    count_rule: str = "round"
    count_bias: float = 0.0  # added to Λ_T before rounding (chosen on dev mixtures)


@dataclass(frozen=True)
class SpeakerBounds:
    """What the user said about the number of speakers (None: not said)."""
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None

    def clip(self, n: int) -> int:
        if self.num_speakers is not None:
            return self.num_speakers
        if self.min_speakers is not None:
            n = max(n, self.min_speakers)
        if self.max_speakers is not None:
            n = min(n, self.max_speakers)
        return n


def speaker_count(onset: np.ndarray, frame_shift_s: float, config: DiarizeDecodeConfig = DiarizeDecodeConfig()
                  ) -> int:
    """onset (T,) intensity per second of speakers' first onsets -> the estimated number of speakers."""
    expected = float(np.sum(onset, dtype=np.float64) * frame_shift_s) + config.count_bias
    if config.count_rule == "floor":
        return max(0, int(np.floor(expected)))
    return max(0, int(np.floor(expected + 0.5)))


def speaker_onsets_s(onset: np.ndarray, n: int, grid: FrameGrid) -> list[float]:
    """The posterior medians (seconds from the grid's start) of the n speakers' first onsets."""
    if n <= 0:
        return []
    log_intensity = np.log(np.maximum(np.asarray(onset, dtype=np.float64), 1e-30))
    return [float(grid.offset_s + t) for t in posterior_median(log_intensity, n, grid.frame_shift_s)]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def slot_turns(values: np.ndarray, n: int, grid: FrameGrid, config: DiarizeDecodeConfig = DiarizeDecodeConfig()
               ) -> list[list[tuple[int, int]]]:
    """values (S+1, T, 3) -> for each of the first n slots its turns as frame ranges [a, b)."""
    S = values.shape[0] - 1
    n = min(n, S)
    if n <= 0:
        return []
    activity = values[:n, :, 0]  # (n, T)
    speech = values[S, :, 0] >= config.speech
    T = activity.shape[1]
    claimed = np.zeros((n, T), dtype=bool)
    for s in range(n):
        for a, b in hysteresis(activity[s], config.activity, min(config.activity_low, config.activity)):
            claimed[s, a:b] = True
    unclaimed = speech & ~claimed.any(axis=0)
    best = np.argmax(activity, axis=0)
    claimed[best[unclaimed], np.flatnonzero(unclaimed)] = True
    gap = int(round(config.fill_gap_s / grid.frame_shift_s))
    shortest = max(1, int(round(config.min_turn_s / grid.frame_shift_s)))
    out = []
    for s in range(n):
        runs = _runs(claimed[s])
        joined: list[list[int]] = []
        for a, b in runs:
            if joined and a - joined[-1][1] <= gap:
                joined[-1][1] = b
            else:
                joined.append([a, b])
        out.append([(a, b) for a, b in joined if b - a >= shortest])
    return out


def number_by_first_speech(turns: list[list[tuple[float, float]]]) -> list[Item]:
    """Per-speaker turns in seconds -> Items `speaker_1`, `speaker_2`, ... numbered by first speech, sorted."""
    speaking = [t for t in turns if t]
    speaking.sort(key=lambda t: min(a for a, _ in t))
    items = [Item(f"speaker_{k + 1}", round(a, 4), round(b, 4)) for k, t in enumerate(speaking) for a, b in t]
    return sorted(items, key=lambda it: (it.start_s, it.label))


def decode_window(values: np.ndarray, grid: FrameGrid, bounds: SpeakerBounds = SpeakerBounds(),
                  config: DiarizeDecodeConfig = DiarizeDecodeConfig()) -> tuple[list[Item], int]:
    """values (S+1, T, 3) of one window -> (speaker turns as Items numbered by first speech, speakers counted).
    """
    S = values.shape[0] - 1
    speech_present = bool((values[S, :, 0] >= config.speech).any() or (values[:S, :, 0] >= config.activity).any())
    n = speaker_count(values[S, :, 1], grid.frame_shift_s, config)
    if speech_present:
        n = max(1, n)
    n = min(S, bounds.clip(n))
    frames = slot_turns(values, n, grid, config)
    turns = [[(float(grid.start_s(a)), float(grid.start_s(b))) for a, b in slot] for slot in frames]
    return number_by_first_speech(turns), n
