"""Word alignment: audio + transcript -> one interval per transcript token.

The model reads each (audio, prompt) once; its pointer head gives every token an onset and an offset
intensity over the frames; the monotonic decoder turns them into times with 90 % credible intervals.
Where the model has a phone head and a request brings pronunciations, every word's phones are then timed
inside its decoded interval (heads/phones.py, decoders/phones.py) from the same forward pass.
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
    # per token its ARPAbet phones (None: that word gets none); None: no phones asked for
    phones: list[tuple[str, ...] | None] | None = None


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
    if getattr(model, "has_phones", False) and any(r.phones is not None for r in requests):
        results = _with_phones(model, requests, results, out)
    return results


def _with_phones(model, requests: list[AlignRequest], results: list[WordTimes], out) -> list[WordTimes]:
    """The words' phones, timed by the phone head inside each word's decoded interval."""
    from frametool.decoders.phones import decode_word_phones
    from frametool.heads.phones import make_phone_batch

    shift = out.frame_shift_s
    prons = [list(r.phones or [None] * len(r.tokens)) for r in requests]
    word_frames = [[(float(FrameGrid(shift, 1).fractional(a)), float(FrameGrid(shift, 1).fractional(b)))
                    for a, b in zip(t.start_s, t.end_s)] for t in results]
    phones, rows = make_phone_batch(prons, word_frames)
    device = out.frames.device
    fine = model.phone_head.fine
    with torch.inference_mode():
        dtype = model.phone_head.query.weight.dtype
        mel = None
        if fine > 1:  # the backbone's log-mel frames of each request, zero-padded (the head pads or cuts them)
            from frametool.audio.features import padded_log_mel

            mel = padded_log_mel([torch.from_numpy(np.asarray(r.samples, dtype=np.float32)).to(device)
                                  for r in requests], model.backbone.config.features)[0].to(dtype)
        logits = model.phone_head(out.words.to(dtype), out.frames.to(dtype), out.audio.to(dtype),
                                  phones.to(device), mel).float().cpu().numpy()  # (B, P, fine * T)
    frame_mask = out.frame_mask.cpu()
    done = []
    for b, (request, times) in enumerate(zip(requests, results)):
        grid = FrameGrid(shift / fine, fine * int(frame_mask[b].sum()))
        per_word: list = [None] * len(request.tokens)
        first_row = {}
        for p, (w, j) in enumerate(rows[b]):
            first_row.setdefault(w, p)
        for w, p0 in first_row.items():
            labels = tuple(prons[b][w])
            per_word[w] = decode_word_phones(labels, logits[b, p0:p0 + len(labels), :grid.num_frames].astype(np.float64),
                                             float(times.start_s[w]), float(times.end_s[w]), grid,
                                             tuple(times.start_ci_s[w]))
        done.append(replace(times, phones=tuple(per_word)))
    return done


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
    """A `words` tier, and a `phones` tier under it where `times` has phones (each phone clipped into its
    word's written interval)."""
    items, phone_items = [], []
    clip = lambda t: float(min(max(t, 0.0), duration_s))  # noqa: E731 (frames may overhang the end)
    piles = piled_up(np.clip(times.start_s[: len(tokens)], 0.0, duration_s))
    for i, token in enumerate(tokens):
        start, end = clip(times.start_s[i]), clip(times.end_s[i])
        conf = float(times.confidence[i])
        start_ci = (min(clip(times.start_ci_s[i, 0]), start), max(clip(times.start_ci_s[i, 1]), start))
        end_ci = (min(clip(times.end_ci_s[i, 0]), end), max(clip(times.end_ci_s[i, 1]), end))
        flags = flags_for(start, end, conf) + (("piled_up",) if piles[i] else ())
        items.append(Item(token.text, start, end, start_ci, end_ci, conf, flags))
        phones = times.phones[i] if times.phones is not None else None
        if phones is not None:
            inside = lambda t: float(min(max(t, start), end))  # noqa: E731
            for k, label in enumerate(phones.labels):
                a, b = inside(phones.start_s[k]), inside(phones.end_s[k])
                ci = (min(inside(phones.start_ci_s[k, 0]), a), max(inside(phones.start_ci_s[k, 1]), a))
                phone_items.append(Item(label, a, b, ci))
    tiers = (Tier("words", tuple(items)),)
    if times.phones is not None:
        tiers += (Tier("phones", tuple(phone_items)),)
    return Annotation(file, duration_s, model_name, "align", tiers)


def tiers_for(config, model) -> tuple[str, ...]:
    """The tiers a run writes (`config.tiers`, AlignConfig's meaning): --tiers, or the model's own (words,
    and phones where it has a phone head). Asking for phones from a model without a phone head is a usage
    error."""
    from frametool.errors import UsageError

    if config.tiers is None:
        return ("words", "phones") if getattr(model, "has_phones", False) else ("words",)
    if "phones" in config.tiers and not getattr(model, "has_phones", False):
        raise UsageError(f"--tiers phones: model {model.config.name!r} has no phone head, so it cannot time "
                         "phones (use --tiers words, or a model with a phone head such as whisper-align)")
    return config.tiers


class Requests:
    """AlignRequests for a run: with every token's pronunciation when the run writes phones."""

    def __init__(self, tiers: tuple[str, ...]) -> None:
        self.tiers = tiers
        self._pronouncer = None
        if "phones" in tiers:
            from frametool.text.pronounce import Pronouncer, load_dictionary

            self._pronouncer = Pronouncer()
            load_dictionary()  # read the dictionary now, with the model (start-up), not with the first file

    def prepare(self, token_lists) -> None:
        """Pronounce the words of several files at once (one espeak-ng call for the words CMUdict lacks)."""
        if self._pronouncer:
            self._pronouncer.prepare([w for tokens in token_lists for t in tokens for w in t.spoken])

    def prepare_items(self, items) -> None:
        """`prepare` for the transcripts of corpus items still to come (read here only for their words; a
        transcript that cannot be read is reported when its file is aligned)."""
        if not self._pronouncer:
            return
        from frametool.errors import FrametoolError
        from frametool.tasks.corpus import read_transcript

        token_lists = []
        for item in items:
            try:
                token_lists.append(read_transcript(item))
            except (FrametoolError, OSError, ValueError):
                continue
        self.prepare(token_lists)

    def __call__(self, samples, tokens) -> AlignRequest:
        return AlignRequest(samples, tokens, self._pronouncer.tokens(tokens) if self._pronouncer else None)

    def annotation(self, file: str, duration_s: float, model_name: str, tokens, times):
        from dataclasses import replace

        annotation = to_annotation(file, duration_s, model_name, tokens, times)
        return replace(annotation, tiers=tuple(t for t in annotation.tiers if t.name in self.tiers))
