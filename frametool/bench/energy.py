"""The field's classic event segmenter, as the baseline of `bench events`: band energy above the recording's
noise floor, short gaps bridged, short segments dropped, with threshold, gap and duration chosen on training
recordings; each segment labelled by its nearest training segments."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frametool.bench.events import Event, in_regions, matched_pairs

@dataclass(frozen=True)
class EnergyParams:
    threshold_db: float = 12.0  # above the recording's noise floor (its 20th percentile of band energy)
    min_gap_s: float = 0.005  # gaps shorter than this are bridged
    min_duration_s: float = 0.02  # shorter segments are dropped


ENERGY_HOP_S = 0.001
ENERGY_GRID = {"threshold_db": (6.0, 9.0, 12.0, 15.0, 18.0, 21.0, 24.0, 28.0),
               "min_gap_s": (0.0, 0.002, 0.005, 0.01, 0.02),
               "min_duration_s": (0.005, 0.01, 0.02, 0.03, 0.04)}


def band_energy_db(samples: np.ndarray, rate_hz: int = 16000, band_hz=(500.0, 8000.0)) -> np.ndarray:
    """Log energy (dB) in a frequency band every 1 ms (8 ms Hann windows), smoothed over 3 ms."""
    import torch

    hop = int(round(ENERGY_HOP_S * rate_hz))
    n_fft = 128
    x = torch.from_numpy(np.asarray(samples, dtype=np.float32))
    spec = torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft), center=True, return_complex=True)
    power = spec.abs().pow(2).numpy()
    freqs = np.linspace(0, rate_hz / 2, n_fft // 2 + 1)
    band = power[(freqs >= band_hz[0]) & (freqs <= band_hz[1])].sum(axis=0)
    db = 10 * np.log10(band + 1e-10)
    kernel = np.ones(3) / 3
    return np.convolve(db, kernel, mode="same")[: len(samples) // hop]


def energy_segments(db: np.ndarray, params: EnergyParams) -> list[tuple[float, float]]:
    floor = np.percentile(db, 20) if len(db) else 0.0
    above = db > floor + params.threshold_db
    edges = np.flatnonzero(np.diff(np.concatenate([[0], above.astype(np.int8), [0]])))
    segments = [[a * ENERGY_HOP_S, b * ENERGY_HOP_S] for a, b in zip(edges[::2], edges[1::2])]
    merged: list[list[float]] = []
    for seg in segments:
        if merged and seg[0] - merged[-1][1] < params.min_gap_s:
            merged[-1][1] = seg[1]
        else:
            merged.append(seg)
    return [(a, b) for a, b in merged if b - a >= params.min_duration_s]


class EnergyBaseline:
    """Energy-threshold segmentation with threshold, minimum gap and minimum duration chosen on training
    recordings (highest label-agnostic onset F1 at 20 ms), and each segment labelled by its nearest training
    segments (5 nearest neighbours on the segment's mean log-mel spectrum and duration)."""

    def __init__(self) -> None:
        self.params = EnergyParams()
        self.features: np.ndarray | None = None
        self.labels: list[str] = []

    @staticmethod
    def _segment_features(samples: np.ndarray, segments: list[tuple[float, float]]) -> np.ndarray:
        import torch

        from frametool.audio.features import FeatureConfig, log_mel

        config = FeatureConfig(n_fft=256, hop_length=40, n_mels=32)
        mel = log_mel(torch.from_numpy(np.asarray(samples, dtype=np.float32))[None], config)[0].numpy()
        rows = []
        for a, b in segments:
            lo, hi = int(a / config.hop_s), max(int(a / config.hop_s) + 1, int(b / config.hop_s))
            part = mel[lo:hi] if lo < len(mel) else mel[-1:]
            thirds = np.array_split(part, 3) if len(part) >= 3 else [part] * 3
            rows.append(np.concatenate([t.mean(axis=0) for t in thirds] + [[10 * (b - a)]]))
        return np.asarray(rows, dtype=np.float32).reshape(len(segments), -1)

    def fit(self, recordings) -> "EnergyBaseline":
        """recordings: objects with samples (16 kHz), events [(on, off, label)] and regions."""
        import itertools

        envelopes = [band_energy_db(r.samples) for r in recordings]
        best = (-1.0, self.params)
        for t, g, d in itertools.product(*ENERGY_GRID.values()):
            params = EnergyParams(t, g, d)
            hits = n = 0
            for rec, db in zip(recordings, envelopes):
                hyp = [e for g in in_regions([Event("x", a, b) for a, b in energy_segments(db, params)],
                                             rec.regions) for e in g]
                ref = [e for g in in_regions([Event("x", a, b) for a, b, _ in rec.events], rec.regions) for e in g]
                hits += len(matched_pairs(np.array([e.start_s for e in ref]), np.array([e.start_s for e in hyp]), 0.02))
                n += len(ref) + len(hyp)
            f1 = 2 * hits / n if n else 0.0
            if f1 > best[0]:
                best = (f1, params)
        self.params = best[1]
        feats, labels = [], []
        for rec in recordings:
            segments = [(a, b) for a, b, _ in rec.events]
            if segments:
                feats.append(self._segment_features(rec.samples, segments))
                labels.extend(lab for _, _, lab in rec.events)
        self.features = np.concatenate(feats)
        self.labels = labels
        return self

    def detect(self, samples: np.ndarray) -> list[Event]:
        segments = energy_segments(band_energy_db(samples), self.params)
        if not segments:
            return []
        feats = self._segment_features(samples, segments)
        distance = ((feats[:, None, :] - self.features[None, :, :]) ** 2).sum(-1)
        nearest = np.argsort(distance, axis=1)[:, :5]
        out = []
        for (a, b), row in zip(segments, nearest):
            votes: dict[str, int] = {}
            for j in row:
                votes[self.labels[j]] = votes.get(self.labels[j], 0) + 1
            out.append(Event(max(votes, key=lambda k: (votes[k], -list(votes).index(k))), a, b))
        return out


