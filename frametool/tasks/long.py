"""Aligning a long recording with its whole transcript, window by window, without drift.

The model reads windows of about `window_s` seconds. Each window starts just before the first word not
yet aligned and is given more transcript than it can hold; the head's "not in this audio" slot tells
which of those words the window really contains (a contiguous run from the first one). Words that end
well before the window's end are committed; the next window starts where the last committed word ends.
How many words a window is given follows the speaking rate of the words committed so far (never below
the recording's average), with a margin the absent slot trims.
Memory stays bounded by one window; words are never re-assigned, so errors cannot pile up over an hour.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from frametool.audio.io import TARGET_RATE_HZ as SAMPLE_RATE_HZ
from frametool.decoders.monotonic import WordTimes, decode_words
from frametool.framegrid import FrameGrid
from frametool.text.normalize import Token


@dataclass(frozen=True)
class LongConfig:
    window_s: float = 30.0
    commit_margin_s: float = 5.0  # words ending in the window's last seconds wait for the next window
    restart_before_s: float = 0.1  # a window starts this far before the last committed word's end
    over_cover: float = 1.25  # words given / words expected in a window
    min_words: int = 16
    max_words: int = 200


def present_prefix(log_absent: np.ndarray) -> int:
    """How many of the window's words (from the first) are in it: the j maximising
    sum_{k<j} log(1 - p_k) + sum_{k>=j} log p_k, with p_k the word's "not here" probability."""
    log_present = np.log1p(-np.exp(np.minimum(log_absent, -1e-12)))
    score = np.concatenate([[0.0], np.cumsum(log_present)]) + np.concatenate(
        [np.cumsum(log_absent[::-1])[::-1], [0.0]])
    return int(np.argmax(score))


def _window(model, samples: np.ndarray, tokens: list[Token]):
    """One window -> (onset (W, T), offset (W, T) pointer log-intensities, grid, per-word log p(absent))."""
    from frametool.model import make_batch

    device = next(model.parameters()).device
    batch = make_batch([samples], [tokens], device=device)
    with torch.inference_mode():
        logits, out = model(batch)
        absent = model.head.absent_logits(out.words)
    n_frames = int(out.frame_mask[0].sum())
    logits = logits.float().cpu()[0, :, :, :n_frames].double()  # (C, W, T)
    absent = absent.float().cpu()[0].double()  # (C, W)
    log_count = torch.logsumexp(logits, dim=2) + math.log(out.frame_shift_s)  # (C, W)
    log_absent = (absent - torch.logaddexp(log_count, absent)).mean(dim=0).numpy()  # channels averaged
    logits = logits.numpy()
    return logits[0], logits[1], FrameGrid(out.frame_shift_s, n_frames), log_absent


def _shifted(times: WordTimes, count: int, offset_s: float) -> WordTimes:
    return WordTimes(times.start_s[:count] + offset_s, times.end_s[:count] + offset_s,
                     times.start_ci_s[:count] + offset_s, times.end_ci_s[:count] + offset_s,
                     times.confidence[:count])


def align_long(model, samples: np.ndarray, tokens: list[Token], decode: str = "median",
               config: LongConfig = LongConfig()) -> WordTimes:
    """Word times for a recording of any length with its whole transcript (model needs an absent slot)."""
    if not model.config.absent_slot:
        raise ValueError("this model cannot align long recordings in windows (it has no absent slot)")
    total_s = len(samples) / SAMPLE_RATE_HZ
    n = len(tokens)
    global_rate = n / max(total_s, 1e-3)  # words per second over the whole recording, pauses included
    rate = global_rate
    parts: list[WordTimes] = []
    t0, w0 = 0.0, 0
    while w0 < n:
        t1 = min(total_s, t0 + config.window_s)
        last = t1 >= total_s - 1e-6
        first = int(round(t0 * SAMPLE_RATE_HZ))
        t0 = first / SAMPLE_RATE_HZ  # on a sample, so window times add up exactly
        chunk = samples[first: first + int(round((t1 - t0) * SAMPLE_RATE_HZ))]
        # a little more transcript than the window should hold at the current speaking rate
        budget = math.ceil(max(rate, global_rate) * (t1 - t0) * config.over_cover) + 5
        k = n - w0 if last else int(np.clip(budget, config.min_words, config.max_words))
        words = tokens[w0:w0 + k]
        onset, offset, grid, log_absent = _window(model, chunk, words)
        # the end of the recording must hold every word left; elsewhere the absent slot decides
        present = len(words) if last else present_prefix(log_absent)
        if present == 0:  # nothing of the transcript here (silence, music): move on
            t0 = t1 - config.commit_margin_s
            continue
        times = decode_words(onset[:present], offset[:present], grid, decode)
        if last:
            commit = present
        else:
            commit = max(1, int(np.sum(times.end_s < (t1 - t0) - config.commit_margin_s)))  # always progress
        parts.append(_shifted(times, commit, t0))
        w0 += commit
        span = float(parts[-1].end_s[-1]) - t0
        if span > 2.0:
            rate = 0.5 * rate + 0.5 * commit / span
        t0 = max(t0 + 0.5, float(parts[-1].end_s[-1]) - config.restart_before_s)
    return WordTimes(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                       ("start_s", "end_s", "start_ci_s", "end_ci_s", "confidence")))
