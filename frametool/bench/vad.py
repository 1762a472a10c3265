"""Speech-activity peers and references for `bench events`.

- `SileroSpeech`: silero-vad (its weights ship in the `silero-vad` wheel) with its default settings; every
  stretch it calls speech is a `speech` event. The peer a user could run here for "when is there speech?".
- `read_rttm_speech`: the speech regions of an RTTM (the union of every speaker's turns, overlaps merged) as
  `speech` events, and `read_uem` the scored regions, so a diarization reference can score `--event speech`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from frametool.errors import InputError, UsageError


class SileroSpeech:
    name = "silero-vad"

    def __init__(self) -> None:
        try:
            from silero_vad import get_speech_timestamps, load_silero_vad
        except ImportError:
            raise UsageError("--peer silero-vad needs the silero-vad package (pip install silero-vad)") from None
        self._model = load_silero_vad()
        self._timestamps = get_speech_timestamps

    def __call__(self, samples: np.ndarray) -> list:
        import torch

        from frametool.bench.events import Event

        found = self._timestamps(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)), self._model,
                                 sampling_rate=16000, return_seconds=True)
        return [Event("speech", float(seg["start"]), float(seg["end"])) for seg in found]


def merge_spans(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The union of possibly overlapping spans, sorted."""
    out: list[list[float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def read_rttm_speech(path: Path) -> list:
    """An RTTM's merged speech regions (every speaker's turns together) as `speech` Events."""
    from frametool.bench.diarization import read_rttm
    from frametool.bench.events import Event

    return [Event("speech", a, b) for a, b in merge_spans([(a, b) for a, b, _ in read_rttm(path)])]


def read_uem(path: Path) -> list[tuple[float, float]]:
    """`<file> <channel> <start> <end>` lines -> scored regions."""
    regions = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            regions.append((float(parts[2]), float(parts[3])))
        except (IndexError, ValueError):
            raise InputError(path, f"line {n}: expected <file> <channel> <start> <end>, got {line!r}") from None
    return regions
