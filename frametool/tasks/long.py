"""Aligning a long recording with its whole transcript, without drift.

1. The audio encoder's CTC head reads the whole recording in overlapping windows (bounded memory) and
   gives per-frame character log-probabilities.
2. First pass, chunk by chunk: each `chunk_s` of audio starts where the last committed word ends and is
   matched by CTC forced alignment to a PREFIX of the remaining transcript (free end), so the acoustics
   decide which words it holds; words ending well before the chunk's end are committed. Characters are
   scored against their prior (scaled_log_probs): otherwise a model that mostly says "blank" makes a free
   end stop early.
3. Second pass: one fixed-end alignment of the whole transcript to the whole recording, searched in a band
   of +-`band_s` around the first pass (memory T x band, not T x transcript); it repairs stretches where a
   chunk's free end went astray, and since both ends are fixed nothing can drift past the end.
4. The recording is cut in pauses between those words into segments that look like utterances (2-20 s),
   each with exactly its words, and every segment is aligned by the model's pointer head like a short
   utterance: the precise times come from there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from frametool.audio.io import TARGET_RATE_HZ as SAMPLE_RATE_HZ
from frametool.decoders.ctc import banded_forced_align, forced_align, word_spans
from frametool.decoders.monotonic import WordTimes
from frametool.text.normalize import Token
from frametool.text.tokenizer import SPACE, UNK, encode_words


@dataclass(frozen=True)
class LongConfig:
    encoder_window_s: float = 16.0  # audio encoder windows (each keeps its middle; overlap on both sides)
    encoder_overlap_s: float = 1.0
    chunk_s: float = 30.0  # CTC alignment chunks
    commit_margin_s: float = 5.0  # words ending in a chunk's last seconds wait for the next chunk
    over_cover: float = 1.6  # words given to a chunk / words expected at the recording's speaking rate
    prior_scale: float = 1.0  # emissions scored against the label prior (scaled_log_probs)
    band_s: float = 20.0  # the second pass searches this far around the first (seconds at the mean rate)
    min_words: int = 24
    min_segment_s: float = 2.0  # pointer-head segments: cut at the first pause after this long...
    pause_s: float = 0.4  # ...of at least this long (between the CTC spans of two words)...
    max_segment_s: float = 20.0  # ...else at the widest pause before this long
    max_segment_words: int = 120
    pad_s: float = 1.0  # a segment reaches at most this far past its first and last words
    # the audio is encoded once where it can be: a recording that is one window and one segment always; every
    # segment for a model trained with position_jitter_s (its states cut out of the CTC pass's windows)
    reuse_encoder: bool = True
    # the CTC pass's word spans as a prior on the pointer head's boundaries: flat within `prior_halfwidth_s`
    # of the CTC time (less `prior_shift_*_s`: the CTC head says a word late), falling `prior_slope` nats
    # per second beyond; it keeps a boundary from jumping to another word's place (0 = no prior)
    prior_slope: float = 30.0  # these four chosen on the dev voices (dev-v2), never on ../shared/eval
    prior_halfwidth_s: float = 0.08
    prior_shift_on_s: float = 0.05
    prior_shift_off_s: float = 0.015


def decoding_keys() -> set[str]:
    """The word-decoding settings a model's config.json `decoding` may hold: LongConfig's fields and `ci_pad_s`
    (the credible intervals' widening, read by tasks/align.py)."""
    from dataclasses import fields

    return {f.name for f in fields(LongConfig)} | {"ci_pad_s"}


def long_config_for(model) -> LongConfig:
    """LongConfig with the decoding settings the model's config.json measured for it."""
    from dataclasses import fields

    known = {f.name for f in fields(LongConfig)}
    chosen = getattr(getattr(model, "config", None), "decoding", None) or {}  # stand-in models may have none
    return LongConfig(**{k: v for k, v in chosen.items() if k in known})


def has_windows(model) -> bool:
    """Whether the model can align long recordings (its audio encoder has a CTC head)."""
    return bool(getattr(model.backbone.config, "ctc", False))


def ctc_log_probs(model, samples: np.ndarray, config: LongConfig = LongConfig()) -> np.ndarray:
    """(N,) 16 kHz samples -> (T, V) CTC log-probabilities on the model's frame grid, computed in
    overlapping encoder windows whose edges are dropped."""
    return encode_windows(model, samples, config)[0]


def encode_windows(model, samples: np.ndarray, config: LongConfig = LongConfig()):
    """-> (CTC log-probabilities as ctc_log_probs, (T, H) audio encoder states on the same frames, whether
    one window held the whole recording). Each window keeps its middle frames for both."""
    from frametool.audio.features import log_mel_batch

    backbone = model.backbone
    device = next(model.parameters()).device
    hop = int(round(backbone.frame_shift_s * SAMPLE_RATE_HZ))  # samples per frame
    total = int(backbone.num_frames(torch.tensor(len(samples) // (hop // backbone.config.subsample))))
    window = int(config.encoder_window_s * SAMPLE_RATE_HZ) // hop  # frames
    overlap = int(config.encoder_overlap_s * SAMPLE_RATE_HZ) // hop
    keep = max(1, window - 2 * overlap)
    out = np.zeros((total, backbone.config.vocab_size), dtype=np.float32)
    states = torch.zeros(total, backbone.config.d_model, device=device, dtype=next(model.parameters()).dtype)
    for k0 in range(0, total, keep):
        a = max(0, k0 - overlap)
        b = min(total, k0 + keep + overlap)
        piece = torch.from_numpy(np.asarray(samples[a * hop: b * hop], dtype=np.float32)).to(device)
        feats = log_mel_batch([piece], backbone.config.features)[0][None]
        with torch.inference_mode():
            audio, _ = backbone.encode_audio(feats, torch.tensor([feats.shape[1]], device=device))
            lp = backbone.ctc_log_probs(audio)[0].float().cpu().numpy()
        end = min(total, k0 + keep)
        got = lp[k0 - a: k0 - a + (end - k0)]
        out[k0: k0 + len(got)] = got
        states[k0: k0 + len(got)] = audio[0, k0 - a: k0 - a + len(got)]
        if len(got) < end - k0:  # the encoder's last frame may be short of the grid: repeat it
            out[k0 + len(got): end] = lp[-1]
            states[k0 + len(got): end] = audio[0, -1]
    return out, states, total <= keep  # one window held it all


def reuses_windows(model, config: LongConfig = LongConfig()) -> bool:
    """Whether segments take their encoder states from the CTC pass's windows: only for a model trained not
    to depend on where its audio starts (position_jitter_s), since a segment rarely starts a window."""
    return config.reuse_encoder and getattr(model.backbone.config, "position_jitter_s", 0.0) > 0


def segment_states(model, states: torch.Tensor, starts: list[int], lengths: list[int]):
    """Encoder states (T, H) of a whole recording, segments' first frames and their audio lengths in samples
    -> (B, T', H) states and (B, T') frame mask, shaped as the audio encoder returns them for those segments'
    audio (the frame count that audio gives; a frame past the recording's end repeats its last)."""
    backbone = model.backbone
    sub_hop = int(round(backbone.frame_shift_s * SAMPLE_RATE_HZ)) // backbone.config.subsample
    counts = [int(backbone.num_frames(torch.tensor(n // sub_hop))) for n in lengths]
    out = torch.zeros(len(starts), max(counts), states.shape[1], dtype=states.dtype, device=states.device)
    mask = torch.zeros(len(starts), max(counts), dtype=torch.bool, device=states.device)
    for i, (a, n) in enumerate(zip(starts, counts)):
        got = states[a: a + n]
        out[i, :len(got)] = got
        out[i, len(got):n] = states[-1]
        mask[i, :n] = True
    return out, mask


def _labels(tokens: list[Token]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CTC labels of the spoken words (characters and the spaces between words), each label's word index
    (-1 for spaces) and its position in the transcript (a space counts with the word after it)."""
    prompt = encode_words(tokens)
    ids = np.asarray(prompt.ids[1:-1], dtype=np.int64)
    position = np.asarray(prompt.word_index[1:-1], dtype=np.int64)
    keep = ids != UNK
    ids, position = ids[keep], position[keep]
    return ids, np.where(ids == SPACE, -1, position), position


def scaled_log_probs(log_probs: np.ndarray, scale: float) -> np.ndarray:
    """log p(label | frame) - scale * log p(label), the label prior being the mean posterior over the
    recording. A CTC model says "blank" at most frames; a free-ending path then gains by stopping early,
    unless each emission is scored by how much MORE likely the audio makes it than usual."""
    if not scale:
        return log_probs
    prior = np.exp(log_probs.astype(np.float64)).mean(axis=0)
    return log_probs - scale * np.log(np.maximum(prior, 1e-8))[None].astype(log_probs.dtype)


def ctc_word_frames(log_probs: np.ndarray, tokens: list[Token], frame_shift_s: float,
                    config: LongConfig = LongConfig()) -> np.ndarray:
    """(n, 2) [first, end) frame of every word: a first pass chunk by chunk, then one fixed-end alignment of
    the whole transcript to the whole recording in a band around the first pass, which repairs the stretches
    where a chunk's free end went wrong."""
    labels, char_word, position = _labels(tokens)
    log_probs = scaled_log_probs(log_probs, config.prior_scale)
    first = _chunked_word_frames(log_probs, labels, char_word, position, len(tokens), frame_shift_s, config)
    T, S = len(log_probs), 2 * len(labels) + 1
    if not len(labels) or T < 2 or T <= int(config.chunk_s / frame_shift_s):
        # within one chunk the first pass was the fixed-end alignment of the whole transcript: the global
        # optimum the second pass would search for (or, where that cannot fit, what the second pass returns)
        return first
    label_of_word = np.full(len(tokens), -1, dtype=np.int64)
    letters = np.nonzero(char_word >= 0)[0]
    label_of_word[char_word[letters[::-1]]] = letters[::-1]  # the first label of each word (last write wins)
    has = label_of_word >= 0
    knots_t = np.concatenate([[0], first[has, 0], [T - 1]]).astype(np.float64)
    knots_s = np.concatenate([[0], 2 * label_of_word[has] + 1, [S - 1]]).astype(np.float64)
    order = np.argsort(knots_t, kind="stable")
    center = np.interp(np.arange(T), knots_t[order], np.maximum.accumulate(knots_s[order]))
    width = max(200, int(2 * config.band_s / frame_shift_s * S / T))
    spans, score = banded_forced_align(log_probs, labels, center.round().astype(np.int64), width)
    if not np.isfinite(score):
        return first
    second = word_spans(spans, char_word, len(tokens))
    _fill_missing(second, T)
    return second


def _chunked_word_frames(log_probs: np.ndarray, labels: np.ndarray, char_word: np.ndarray, position: np.ndarray,
                         n: int, frame_shift_s: float, config: LongConfig) -> np.ndarray:
    """First pass over prior-scaled log-probabilities and the `_labels` of n words: chunks matched to
    prefixes of the remaining transcript (module docstring)."""
    T = len(log_probs)
    out = np.full((n, 2), -1, dtype=np.int64)
    chunk = int(config.chunk_s / frame_shift_s)
    margin = int(config.commit_margin_s / frame_shift_s)
    rate = n / max(T, 1)  # words per frame over the whole recording
    t0, w0 = 0, 0
    while w0 < n and t0 < T:
        t1 = min(T, t0 + chunk)
        last = t1 >= T
        k = n - w0 if last else max(config.min_words, math.ceil(rate * (t1 - t0) * config.over_cover))
        k = min(k, n - w0)
        while True:
            lo, hi = np.searchsorted(position, [w0, w0 + k])  # from the space before word w0, if any
            lab, cw = labels[lo:hi], char_word[lo:hi]
            free = not (last and k == n - w0)
            spans, score = forced_align(log_probs[t0:t1], lab, free_end=free)
            if not np.isfinite(score):  # more letters than frames left: take what fits, free end
                spans, score = forced_align(log_probs[t0:t1], lab, free_end=True)
            words = word_spans(spans, np.where(cw >= 0, cw - w0, -1), k)
            if not free or words[-1, 0] < 0 or k == n - w0:
                break
            k = min(n - w0, 2 * k)  # the chunk used every word it was given: it may hold more
        reached = np.nonzero(words[:, 0] >= 0)[0]
        if last:
            commit = k
        else:
            ends_early = reached[words[reached, 1] < (t1 - t0) - margin]
            commit = int(ends_early[-1]) + 1 if len(ends_early) else 0
        if commit == 0:  # no word ends early in this chunk (silence, music, or one late start): move on
            first = int(words[reached[0], 0]) if len(reached) else 0
            t0 = max(t0 + 1, t0 + first - 1 if first > margin else t1 - margin)
            continue
        got = words[:commit].copy()
        got[got[:, 0] >= 0] += t0
        out[w0:w0 + commit] = got
        w0 += commit
        done = out[:w0][out[:w0, 1] >= 0]
        t0 = int(done[-1, 1]) if len(done) else t1
        if last:
            break
    _fill_missing(out, T)
    return out


def _fill_missing(frames: np.ndarray, total: int) -> None:
    """Words the CTC path never reached (too little audio left) share the time between their neighbours."""
    n = len(frames)
    i = 0
    while i < n:
        if frames[i, 0] >= 0:
            i += 1
            continue
        j = i
        while j < n and frames[j, 0] < 0:
            j += 1
        a = int(frames[i - 1, 1]) if i else 0
        b = int(frames[j, 0]) if j < n else total
        a = min(a, total - 1)
        edges = np.linspace(a, max(a, b), j - i + 1).round().astype(np.int64)
        frames[i:j, 0] = np.minimum(edges[:-1], total - 1)
        frames[i:j, 1] = np.minimum(np.maximum(edges[1:], edges[:-1] + 1), total)
        i = j


def segments(word_frames: np.ndarray, total_frames: int, frame_shift_s: float,
             config: LongConfig = LongConfig()) -> list[tuple[int, int, int, int]]:
    """Group the words into utterance-like segments: -> [(first frame, end frame, first word, end word)],
    in order, not overlapping, every word in one. A segment ends at the first pause of at least `pause_s`
    once it is `min_segment_s` long, else at the widest pause that keeps it under `max_segment_s` and
    `max_segment_words`; the cut is in the middle of the pause, and a segment reaches at most `pad_s` past
    its first and last words (long silences, music and the like between them are left out)."""
    n = len(word_frames)
    lo_f, hi_f = config.min_segment_s / frame_shift_s, config.max_segment_s / frame_shift_s
    pause_f, pad_f = config.pause_s / frame_shift_s, int(round(config.pad_s / frame_shift_s))
    groups = []
    start_w = 0
    while start_w < n:
        start_f = max(0, int(word_frames[start_w, 0]) - pad_f)
        best, best_gap = None, -np.inf
        for i in range(start_w, n - 1):
            span = word_frames[i, 1] - start_f
            too_long = span > hi_f or i + 1 - start_w > config.max_segment_words
            if too_long and best is not None:
                break
            gap = word_frames[i + 1, 0] - word_frames[i, 1]
            if span >= lo_f and gap >= pause_f:
                best = i
                break
            if (span >= lo_f or best is None) and gap >= best_gap:
                best, best_gap = i, gap
        end_w = n if best is None else best + 1
        if best is not None and word_frames[-1, 1] - start_f <= hi_f and n - start_w <= config.max_segment_words \
                and (word_frames[best + 1, 0] - word_frames[best, 1] < pause_f or word_frames[best, 1] - start_f < lo_f):
            end_w = n  # the rest fits in one segment and has no pause worth a cut
        groups.append((start_w, end_w))
        start_w = end_w
    out = []
    for w0, w1 in groups:
        prev_end = int(word_frames[w0 - 1, 1]) if w0 else 0
        next_start = int(word_frames[w1, 0]) if w1 < n else total_frames
        first, last = int(word_frames[w0, 0]), int(word_frames[w1 - 1, 1])
        begin = max(first - pad_f, (prev_end + first) // 2 if w0 else 0, 0)
        end = min(last + pad_f, (last + next_start) // 2 if w1 < n else total_frames, total_frames)
        begin = min(begin, max(0, total_frames - 1))
        out.append((begin, max(end, begin + 1), w0, w1))
    return out


def ctc_prior(word_frames: np.ndarray, n_frames: int, frame_shift_s: float,
              config: LongConfig = LongConfig()) -> tuple[np.ndarray, np.ndarray] | None:
    """(W, 2) CTC start/end frames of a segment's words (relative to it) -> (W, T) log priors of the
    onset and offset frames: 0 within `prior_halfwidth_s` of the shifted CTC time, then linear."""
    if not config.prior_slope:
        return None
    t = (np.arange(n_frames) + 0.5) * frame_shift_s  # frame centres
    out = []
    for column, shift in ((0, config.prior_shift_on_s), (1, config.prior_shift_off_s)):
        centre = word_frames[:, column].astype(float) * frame_shift_s - shift
        distance = np.abs(t[None, :] - centre[:, None]) - config.prior_halfwidth_s
        out.append(-config.prior_slope * np.maximum(distance, 0.0))
    return out[0], out[1]


def align_long(model, samples: np.ndarray, tokens: list[Token], decode: str = "median",
               config: LongConfig | None = None, batch_size: int = 8,
               phones: list | None = None) -> WordTimes:
    """Word times for a recording of any length with its whole transcript (model needs a CTC head).
    `config`: the model's own decoding settings (long_config_for) when not given. `phones`: per token its
    pronunciation, to time phones too (AlignRequest.phones)."""
    from frametool.tasks.align import AlignRequest, align_batch

    config = config or long_config_for(model)
    if not has_windows(model):
        raise ValueError("this model cannot align long recordings (its audio encoder has no CTC head)")
    if not tokens:
        raise ValueError("a long recording needs a transcript with at least one word")
    shift = model.backbone.frame_shift_s
    hop = int(round(shift * SAMPLE_RATE_HZ))
    log_probs, states, single = encode_windows(model, samples, config)
    frames = ctc_word_frames(log_probs, tokens, shift, config)
    pieces = segments(frames, len(log_probs), shift, config)
    requests = [AlignRequest(samples[a * hop: min(len(samples), b * hop)], tokens[w0:w1],
                             phones[w0:w1] if phones is not None else None) for a, b, w0, w1 in pieces]
    priors = [ctc_prior(frames[w0:w1] - a, b - a, shift, config) for a, b, w0, w1 in pieces]
    # every segment's states come from the windows for a position-free model; for others only when the one
    # segment is the whole recording, which the CTC pass encoded in one window
    reuse = reuses_windows(model, config) or (config.reuse_encoder and single and len(pieces) == 1
                                              and pieces[0][:2] == (0, len(log_probs)))
    order = sorted(range(len(pieces)), key=lambda i: len(requests[i].samples))
    results: list[WordTimes | None] = [None] * len(pieces)
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        encoded = segment_states(model, states, [pieces[i][0] for i in idx],
                                 [len(requests[i].samples) for i in idx]) if reuse else None
        for i, times in zip(idx, align_batch(model, [requests[i] for i in idx], decode, encoded,
                                             priors=[priors[i] for i in idx])):
            results[i] = times
    parts = []
    for (a, _, _, _), times in zip(pieces, results):
        offset = a * hop / SAMPLE_RATE_HZ
        shifted = None if times.phones is None else tuple(None if p is None else p.shifted(offset)
                                                          for p in times.phones)
        parts.append(WordTimes(times.start_s + offset, times.end_s + offset, times.start_ci_s + offset,
                               times.end_ci_s + offset, times.confidence, shifted))
    joined = [np.concatenate([getattr(p, f) for p in parts]) for f in
              ("start_s", "end_s", "start_ci_s", "end_ci_s", "confidence")]
    has_phones = any(p.phones is not None for p in parts)
    return WordTimes(*joined, tuple(x for p in parts for x in (p.phones or [None] * len(p.start_s)))
                     if has_phones else None)


def align_recordings(model, requests, decode: str = "median", batch_size: int = 1) -> list[WordTimes]:
    """What `frametool align` does with each (audio, transcript) pair: split in segments by the CTC head
    where the model has one (align_long), else one forward pass for all of them."""
    from frametool.tasks.align import align_batch

    if has_windows(model):
        return [align_long(model, r.samples, r.tokens, decode, batch_size=batch_size, phones=r.phones)
                for r in requests]
    return align_batch(model, requests, decode)

