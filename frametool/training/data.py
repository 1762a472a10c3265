"""Training examples from a manifest (JSONL rows: audio, transcript, words with start_s/end_s, and where a
synthetic corpus has them, each word's `phones` with their own label/start_s/end_s)."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from frametool.audio.features import FeatureConfig
from frametool.audio.io import load_audio
from frametool.framegrid import FrameGrid
from frametool.model import Batch, make_batch
from frametool.text.normalize import Token, tokenize


@dataclass(frozen=True)
class Example:
    audio: Path
    tokens: list[Token]
    spans_s: list[tuple[float, float]]
    duration_s: float
    # per word its phones [(ARPAbet label, start_s, end_s)], None for a word without; None: no word has any
    phones: list[list[tuple[str, float, float]] | None] | None = None


def read_manifest(path: Path, growing: bool = False) -> list[Example]:
    """Rows whose transcript tokenises to exactly its timed words; others are skipped.

    `growing`: the manifest is still being written (a generator runs beside training), so a last line
    without its newline is not read yet.
    """
    root = path.parent
    examples = []
    text = path.read_text(encoding="utf-8")
    if growing and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    for line in text.splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        tokens = tokenize(row["transcript"])
        words = row["words"]
        if len(tokens) != len(words) or not tokens:
            continue
        phones = [[(p["label"], p["start_s"], p["end_s"]) for p in w["phones"]] if w.get("phones") else None
                  for w in words]
        examples.append(Example(root / row["audio"], tokens, [(w["start_s"], w["end_s"]) for w in words],
                                row["duration_s"], phones if any(phones) else None))
    return examples


def batches(examples: list[Example], max_seconds: float, max_size: int, rng: random.Random) -> list[list[int]]:
    """Indices grouped by similar duration, each group under max_seconds of padded audio; shuffled."""
    order = sorted(range(len(examples)), key=lambda i: examples[i].duration_s + rng.random() * 0.5)
    groups, current, longest = [], [], 0.0
    for i in order:
        longest_next = max(longest, examples[i].duration_s)
        if current and (longest_next * (len(current) + 1) > max_seconds or len(current) >= max_size):
            groups.append(current)
            current, longest_next = [], examples[i].duration_s
        current.append(i)
        longest = longest_next
    if current:
        groups.append(current)
    rng.shuffle(groups)
    return groups


def load_waves(examples: list[Example]) -> list[np.ndarray]:
    return [load_audio(e.audio).samples for e in examples]


def prefetched(groups, load, depth: int = 4, workers: int = 4):
    """Yield (group, load(group)) in order while up to `depth` later groups load in threads."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        pending = deque()
        for group in groups:
            pending.append((group, pool.submit(load, group)))
            if len(pending) > depth:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()


def batch_from_examples(examples: list[Example], waves: list[np.ndarray], frame_shift_s: float, num_frames,
                        device: torch.device | str = "cpu", features: FeatureConfig = FeatureConfig(),
                        make=None) -> tuple[Batch, torch.Tensor]:
    """Model inputs and (B, 2, W) targets on `device`: each word's onset and offset frame, IGNORE (-1)
    where there is no word. `make(waves, transcripts, device)`: the model's own input builder (default:
    the tiny backbone's `make_batch` with `features`)."""
    from frametool.heads.poisson import IGNORE

    if make is None:
        batch = make_batch(waves, [e.tokens for e in examples], features=features, device=device)
    else:
        batch = make(waves, [e.tokens for e in examples], device)
    W = batch.word_mask.shape[1]
    targets = torch.full((len(examples), 2, W), IGNORE, dtype=torch.long)
    lens = num_frames(batch.feat_lens.cpu())
    for b, example in enumerate(examples):
        # the model's own frame count, so no target can fall on a masked frame past the end
        grid = FrameGrid(frame_shift_s, int(lens[b]))
        spans = np.asarray(example.spans_s, dtype=np.float64).reshape(-1, 2)
        frames = np.stack([grid.frame_of(spans[:, 0]), grid.frame_of(np.maximum(spans[:, 1] - 1e-6, 0))])
        targets[b, :, : len(spans)] = torch.from_numpy(frames.astype(np.int64))
    return batch, targets.to(device)


def target_places(examples: list[Example], frame_shift_s: float, targets: torch.Tensor) -> torch.Tensor:
    """batch_from_examples' (B, 2, W) target frames -> where inside its target frame each word's onset and
    offset lies, in [0, 1) (an offset on a frame's end is at 1 - 1e-6 of the frame before); 0 where there is
    no word."""
    out = torch.zeros(targets.shape)
    for b, example in enumerate(examples):
        spans = np.asarray(example.spans_s, dtype=np.float64).reshape(-1, 2)
        where = FrameGrid(frame_shift_s, 1).fractional(spans.T) - targets[b, :, :len(spans)].cpu().numpy()
        out[b, :, :len(spans)] = torch.from_numpy(np.clip(where, 0.0, 1.0 - 1e-6).astype(np.float32))
    return out.to(targets.device)


def speed_perturbed(examples: list[Example], waves: list[np.ndarray], factors: tuple[float, ...], p: float,
                    rng: random.Random, longest_s: float = 0.0) -> tuple[list[Example], list[np.ndarray]]:
    """Each utterance with probability p played `f` times as fast (f uniform in [factors[0], factors[-1]]):
    resampled as if recorded at 16 kHz * f, so it lasts duration / f, and its word times are divided by f.
    An utterance that would then outlast `longest_s` (the encoder's limit; 0 = none) is left as it is."""
    import soxr
    from dataclasses import replace

    from frametool.audio.io import TARGET_RATE_HZ

    low, high = min(factors), max(factors)
    out_examples, out_waves = [], []
    for example, wave in zip(examples, waves):
        if rng.random() >= p:
            out_examples.append(example)
            out_waves.append(wave)
            continue
        f = rng.uniform(low, high)
        if longest_s and len(wave) / TARGET_RATE_HZ / f > longest_s:
            f = max(f, len(wave) / TARGET_RATE_HZ / longest_s)
        out_waves.append(soxr.resample(wave, TARGET_RATE_HZ * f, TARGET_RATE_HZ).astype(np.float32))
        out_examples.append(replace(example, spans_s=[(a / f, b / f) for a, b in example.spans_s],
                                    duration_s=example.duration_s / f))
    return out_examples, out_waves
