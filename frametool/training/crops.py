"""Training samples that teach the model windows of long recordings.

A plain sample is one utterance with every transcript word in its audio. A crop joins a few utterances
with pauses, cuts a window out of them, and keeps the transcript running past the window's end: words wholly inside are timed targets, words outside are ABSENT
(the head's "not in this audio" slot), words cut by the window edge are not scored. This is what the
long-recording aligner shows the model: a window that starts just before the next unaligned word, and
more transcript than the window holds.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from frametool.audio.io import TARGET_RATE_HZ as SAMPLE_RATE_HZ
from frametool.text.normalize import Token

PRESENT, ABSENT, IGNORED = 0, 1, 2


@dataclass
class Sample:
    wave: np.ndarray  # (N,) float32 at 16 kHz
    tokens: list[Token]
    spans_s: list[tuple[float, float]]  # per token; meaningful where status is PRESENT
    status: list[int]  # per token: PRESENT, ABSENT or IGNORED


def plain(wave: np.ndarray, tokens: list[Token], spans_s: list[tuple[float, float]]) -> Sample:
    return Sample(wave, list(tokens), list(spans_s), [PRESENT] * len(tokens))


def crop(pieces: list[tuple[np.ndarray, list[Token], list[tuple[float, float]]]], rng: random.Random,
         max_window_s: float = 30.0, max_extra_words: int = 40) -> Sample | None:
    """Join `pieces` (wave, tokens, spans) with pauses and cut one window; None when no word is inside."""
    waves, tokens, spans = [], [], []
    offset = 0
    for p, (wave, toks, sp) in enumerate(pieces):
        if p:
            gap = np.zeros(int(rng.uniform(0.1, 1.5) * SAMPLE_RATE_HZ), np.float32)
            gap += np.float32(rng.uniform(0, 3e-3)) * np.random.default_rng(rng.getrandbits(32)).standard_normal(
                len(gap)).astype(np.float32)
            waves.append(gap)
            offset += len(gap)
        waves.append(wave.astype(np.float32))
        tokens += toks
        spans += [(a + offset / SAMPLE_RATE_HZ, b + offset / SAMPLE_RATE_HZ) for a, b in sp]
        offset += len(wave)
    joined = np.concatenate(waves)
    total_s = len(joined) / SAMPLE_RATE_HZ
    if not tokens:
        return None
    # window start: the file start, or a little before some word's onset (as the long aligner does)
    if rng.random() < 0.3:
        start_s, first = 0.0, 0
    else:
        first = rng.randrange(len(tokens))
        start_s = max(0.0, spans[first][0] - rng.uniform(0.0, 1.0))
    end_s = min(total_s, start_s + rng.uniform(2.0, max_window_s))
    status = []
    for a, b in spans:
        if a >= start_s and b <= end_s:
            status.append(PRESENT)
        elif b <= start_s or a >= end_s:
            status.append(ABSENT)
        else:
            status.append(IGNORED)
    present = [i for i, s in enumerate(status) if s == PRESENT]
    if not present:
        return None
    lo = present[0]  # a word cut by the window start is not given (the long aligner committed it)
    hi = max(i for i, s in enumerate(status) if s != ABSENT) + 1
    hi = min(len(tokens), hi + rng.randint(0, max_extra_words))
    cut = joined[int(start_s * SAMPLE_RATE_HZ): int(end_s * SAMPLE_RATE_HZ)]
    return Sample(cut, tokens[lo:hi], [(a - start_s, b - start_s) for a, b in spans[lo:hi]], status[lo:hi])
