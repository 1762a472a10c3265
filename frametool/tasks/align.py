"""Word alignment: audio + transcript -> one interval per transcript token.

The model reads each (audio, prompt) once; its pointer head gives every token an onset and an offset
intensity over the frames; the monotonic decoder turns them into times with 90 % credible intervals.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from frametool.annotation import Annotation, Item, Tier
from frametool.decoders.monotonic import WordTimes, decode_words
from frametool.framegrid import FrameGrid
from frametool.text.normalize import Token

LONG_WORD_S = 3.0
LOW_CONFIDENCE = 0.05
PILE_WORDS, PILE_SPAN_S = 3, 0.06  # this many onsets inside this span: words crammed into one spot


@dataclass(frozen=True)
class AlignRequest:
    samples: np.ndarray  # (N,) 16 kHz mono
    tokens: list[Token]


def align_batch(model, requests: list[AlignRequest], decode: str = "median",
                encoded: tuple[torch.Tensor, torch.Tensor] | None = None,
                priors: list[tuple[np.ndarray, np.ndarray]] | None = None) -> list[WordTimes]:
    """Align several (audio, transcript) pairs in one forward pass. `encoded`: the audio encoder's states
    and frame mask for exactly these samples, when they were computed already. `priors`: per request, log
    prior weights (W, T') of each word's onset and offset frame, added to the pointer's log-intensities
    (frames past T' get the last column)."""
    device = next(model.parameters()).device
    batch = model.make_batch([r.samples for r in requests], [r.tokens for r in requests], device=device,
                             with_features=encoded is None)  # the model's own inputs (tiny or Qwen)
    if encoded is not None and encoded[0].shape[:2] != (len(requests), int(model.backbone.num_frames(
            batch.feat_lens).max())):
        raise ValueError("encoder states given for other audio than the batch's")
    with torch.inference_mode():
        logits, out = model(batch, encoded)  # (B, C, W, T)
    logits, frame_mask = logits.float().cpu(), out.frame_mask.cpu()
    pad_s = float(model.config.decoding.get("ci_pad_s", 0.0))  # interval calibration measured on dev data
    results = []
    for b, request in enumerate(requests):
        n_frames = int(frame_mask[b].sum())
        n_words = len(request.tokens)
        grid = FrameGrid(out.frame_shift_s, n_frames)
        onset = logits[b, 0, :n_words, :n_frames].double().numpy()
        offset = logits[b, 1, :n_words, :n_frames].double().numpy()
        if priors is not None and priors[b] is not None:
            onset = onset + _fit(priors[b][0], n_frames)
            offset = offset + _fit(priors[b][1], n_frames)
        times = decode_words(onset, offset, grid, decode)
        if pad_s:
            times = replace(times, start_ci_s=times.start_ci_s + np.array([-pad_s, pad_s]),
                            end_ci_s=times.end_ci_s + np.array([-pad_s, pad_s]))
        results.append(times)
    return results


def _fit(prior: np.ndarray, n_frames: int) -> np.ndarray:
    if prior.shape[1] >= n_frames:
        return prior[:, :n_frames]
    return np.concatenate([prior, np.repeat(prior[:, -1:], n_frames - prior.shape[1], axis=1)], axis=1)


def flags_for(start_s: float, end_s: float, confidence: float) -> tuple[str, ...]:
    flags = []
    if end_s - start_s > LONG_WORD_S:
        flags.append("long")
    if end_s - start_s <= 1e-3:
        flags.append("zero_length")
    if confidence < LOW_CONFIDENCE:
        flags.append("low_confidence")
    return tuple(flags)


def piled_up(starts_s: np.ndarray) -> np.ndarray:
    """(W,) bool: the word's onset is one of PILE_WORDS consecutive onsets within PILE_SPAN_S."""
    starts = np.asarray(starts_s, dtype=np.float64)
    flags = np.zeros(len(starts), dtype=bool)
    for i in range(len(starts) - PILE_WORDS + 1):
        if starts[i + PILE_WORDS - 1] - starts[i] <= PILE_SPAN_S:
            flags[i:i + PILE_WORDS] = True
    return flags


def to_annotation(file: str, duration_s: float, model_name: str, tokens: list[Token],
                  times: WordTimes) -> Annotation:
    items = []
    clip = lambda t: float(min(max(t, 0.0), duration_s))  # noqa: E731 (frames may overhang the end)
    piles = piled_up(np.clip(times.start_s[: len(tokens)], 0.0, duration_s))
    for i, token in enumerate(tokens):
        start, end = clip(times.start_s[i]), clip(times.end_s[i])
        conf = float(times.confidence[i])
        start_ci = (min(clip(times.start_ci_s[i, 0]), start), max(clip(times.start_ci_s[i, 1]), start))
        end_ci = (min(clip(times.end_ci_s[i, 0]), end), max(clip(times.end_ci_s[i, 1]), end))
        flags = flags_for(start, end, conf) + (("piled_up",) if piles[i] else ())
        items.append(Item(token.text, start, end, start_ci, end_ci, conf, flags))
    return Annotation(file, duration_s, model_name, "align", (Tier("words", tuple(items)),))
