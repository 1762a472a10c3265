"""Choosing on dev mixtures: the dev score of a diarization model, its checkpoint's decoding settings and the
threshold that links the speakers of windows (called by training/diarize_train.py after training).

Score = mean of (1 - DER), the share of recordings whose speaker count is exact, and the share of speakers
whose first onset is found within 100 ms (pyannote.metrics DER, collar 0.5 s total, overlap scored).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, fields

import numpy as np

from frametool.bench.diarization import first_onsets_s as first_onsets, onset_hits
from frametool.training.diarize_train import Mixture

# cosine distances tried for LinkConfig.distance and for count = "clusters", per speaker embedding (CAM++
# puts one speaker's pieces further apart than GE2E, and different speakers much further)
LINK_GRIDS = {"ge2e": (0.2, 0.3, 0.4, 0.5, 0.6), "campp": (0.4, 0.5, 0.6, 0.7, 0.8)}
CLUSTER_GRIDS = {"ge2e": (0.2, 0.3, 0.4), "campp": (0.4, 0.5, 0.6, 0.7)}


@dataclass
class DevScores:
    der: float
    count_exact: float
    onsets_100ms: float
    onsets_40ms: float

    @property
    def score(self) -> float:
        return ((1.0 - self.der) + self.count_exact + self.onsets_100ms) / 3


def score_results(mixtures: list[Mixture], results) -> DevScores:
    """results: (turns as (start_s, end_s, speaker), speakers counted, speaker onsets) per mixture."""
    from frametool.bench.diarization import DerTotals, score_turns

    totals = DerTotals()
    hits100 = hits40 = speakers = 0
    for mix, (turns, n, onsets) in zip(mixtures, results):
        detail, _ = score_turns(mix.turns, turns, [(0.0, mix.duration_s)])
        ref_first = first_onsets(mix.turns)
        totals.add(detail, n == len(ref_first))
        hits100 += onset_hits(ref_first, onsets, 0.1)
        hits40 += onset_hits(ref_first, onsets, 0.04)
        speakers += len(ref_first)
    summary = totals.summary()
    der = summary["der"] if np.isfinite(summary["der"]) else 1.0
    return DevScores(der, summary["speaker_count_exact"] or 0.0, hits100 / max(1, speakers), hits40 / max(1, speakers))


def evaluate(model, mixtures: list[Mixture]) -> DevScores:
    from frametool.tasks.diarize import diarize_samples

    model.eval()
    results = []
    for mix in mixtures:
        out = diarize_samples(model, mix.samples)
        results.append(([(it.start_s, it.end_s, it.label) for it in out.turns], out.num_speakers, out.speaker_onsets_s))
    model.train()
    return score_results(mixtures, results)


ASSIGN_GRID = ({"assign": "hybrid"}, {"assign": "embeddings"})
ONSET_GRID = ({"onsets": "poisson"}, {"onsets": "turns"})


def count_grid(embedder: str) -> tuple[dict, ...]:
    """How speakers may be counted: the speaker-onset channel, or clusters of `embedder`'s embeddings."""
    return ({"count": "poisson"}, *({"count": "clusters", "cluster_distance": d} for d in CLUSTER_GRIDS[embedder]))


def _cached(embedder):
    """An embedder that remembers the embedding of every piece (list of spans) it saw."""
    memory: dict[tuple, np.ndarray] = {}

    def embed(pieces):
        keys = [tuple((round(a, 4), round(b, 4)) for a, b in spans) for spans in pieces]
        todo = [k for k in dict.fromkeys(keys) if k not in memory]
        if todo:
            for k, e in zip(todo, embedder([list(k) for k in todo])):
                memory[k] = e
        return np.stack([memory[k] for k in keys]) if keys else np.zeros((0, 256), dtype=np.float32)
    return embed


def choose_decoding(model, mixtures: list[Mixture], fixed: dict, grid: dict, log=print) -> dict:
    """Decoding settings with the best dev score. First the thresholds of `grid` with the slots' own speaker
    identities (each window's channels computed once); then, with those thresholds and where the speaker
    embedding's weights are installed (`fixed["embedder"]`, default GE2E), how speakers are told apart
    (ASSIGN_GRID), counted (count_grid) and their onsets reported (ONSET_GRID), each piece of audio embedded
    once."""
    from frametool.decoders.diarize import DiarizeDecodeConfig, SpeakerBounds, speaker_onsets_s
    from frametool.tasks.diarize import decode_one, default_embedder, window_channels

    model.eval()
    S = len(model.config.labels) - 1
    channels, usable = [], []
    for mix in mixtures:
        frames, _, chunks = window_channels(model, mix.samples)
        if len(chunks) == 1:  # dev mixtures that fit one window
            channels.append((frames, chunks[0][1], mix.samples))
            usable.append(mix)
    own = {f.name for f in fields(DiarizeDecodeConfig)}
    kind = fixed.get("embedder", "ge2e")
    embedders = [default_embedder(samples, kind) for _, _, samples in channels]
    embeds = [_cached(e) if e is not None else None for e in embedders]

    def score(settings: dict) -> DevScores:
        config = DiarizeDecodeConfig(**{k: v for k, v in settings.items() if k in own})
        results = []
        for (frames, values, samples), embed in zip(channels, embeds):
            items, n = decode_one(values, frames, samples, SpeakerBounds(), config, embed)
            onsets = (sorted({it.label: it.start_s for it in reversed(items)}.values()) if config.onsets == "turns"
                      else speaker_onsets_s(values[S, :, 1], n, frames))
            results.append(([(it.start_s, it.end_s, it.label) for it in items], n, onsets))
        return score_results(usable, results)

    thresholds = {k: v for k, v in grid.items() if k not in fixed}
    base = {**fixed, "assign": "slots", "count": "poisson", "onsets": fixed.get("onsets", "poisson")}
    best, best_score = base, -math.inf
    for combo in itertools.product(*thresholds.values()):
        settings = {**base, **dict(zip(thresholds, combo))}
        scores = score(settings)
        if scores.score > best_score:
            best, best_score = settings, scores.score
            log(f"  decoding {settings}: DER {scores.der:.4f} count {scores.count_exact:.4f} "
                f"onsets@100ms {scores.onsets_100ms:.4f}")
    variants = [dict(o) for o in ONSET_GRID]
    if embeds and embeds[0] is not None and "assign" not in fixed:
        variants += [{**a, **c, **o} for a in ASSIGN_GRID for c in count_grid(kind) for o in ONSET_GRID]
    thresholds_chosen = dict(best)
    for variant in variants:
        settings = {**thresholds_chosen, **variant}
        if settings == best:
            continue
        scores = score(settings)
        log(f"  {variant}: DER {scores.der:.4f} count {scores.count_exact:.4f} onsets@100ms "
            f"{scores.onsets_100ms:.4f} score {scores.score:.4f}")
        if scores.score > best_score:
            best, best_score = settings, scores.score
    log(f"decoding chosen on dev: {best} (score {best_score:.4f})")
    return best


def choose_linking(model, mixtures: list[Mixture], log=print, distances=None) -> float:
    """The cosine distance below which window speakers are linked, with the best dev score on recordings
    longer than a window (their windows decoded and embedded once)."""
    from dataclasses import replace

    from frametool.decoders.diarize import SpeakerBounds
    from frametool.tasks.diarize import (assemble, decode_settings, default_embedder, link_speakers, window_channels,
                                         window_speakers)

    model.eval()
    config, link = decode_settings(model)
    distances = distances or LINK_GRIDS[config.embedder]
    prepared = []
    for mix in mixtures:
        grid, _, chunks = window_channels(model, mix.samples)  # (dev recordings are kept in memory)
        if len(chunks) > 1:
            found = window_speakers(grid, chunks, mix.samples, SpeakerBounds(), config, link,
                                    default_embedder(mix.samples, config.embedder))
            prepared.append((mix, found, len(chunks)))
    if not prepared:
        log("no dev recording is longer than a window: the link threshold stays as it is")
        return link.distance
    best, best_score = link.distance, -math.inf
    for distance in distances:
        results = []
        for mix, found, windows in prepared:
            out = assemble(found, link_speakers(found, SpeakerBounds(), replace(link, distance=distance)),
                           config.fill_gap_s, windows)
            results.append(([(it.start_s, it.end_s, it.label) for it in out.turns], out.num_speakers, out.speaker_onsets_s))
        scores = score_results([m for m, _, _ in prepared], results)
        log(f"  link distance {distance}: DER {scores.der:.4f} count {scores.count_exact:.4f} score {scores.score:.4f}")
        if scores.score > best_score:
            best, best_score = distance, scores.score
    log(f"link distance chosen on {len(prepared)} long dev recordings: {best}")
    return best
