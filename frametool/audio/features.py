"""Log-mel features with torch.stft and a Slaney mel filterbank.

Two normalisations: `utterance` (frametool's own encoder: zero mean, unit variance per utterance) and
`whisper` (what Whisper encoders were trained on: log10 power floored 8 below the utterance's maximum,
then (x + 4) / 4).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch


@dataclass(frozen=True)
class FeatureConfig:
    sample_rate_hz: int = 16000
    n_fft: int = 400
    hop_length: int = 160  # 10 ms
    n_mels: int = 80
    norm: str = "utterance"  # utterance | whisper

    @property
    def hop_s(self) -> float:
        return self.hop_length / self.sample_rate_hz


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz (3 mel per 200 Hz), logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    log_part = 15.0 + 27.0 * np.log(np.maximum(hz, 1e-10) / 1000.0) / np.log(6.4)
    return np.where(hz >= 1000.0, log_part, 3.0 * hz / 200.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp(np.log(6.4) * (mel - 15.0) / 27.0), 200.0 * mel / 3.0)


@lru_cache(maxsize=4)
def _filterbank(config: FeatureConfig) -> torch.Tensor:
    """(F, M) triangular Slaney mel filters with Slaney area normalisation, the filterbank of transformers'
    `mel_filter_bank(..., norm="slaney", mel_scale="slaney")` (a test checks they agree); computed here
    because importing transformers would cost every `frametool align` run about a second."""
    fft_hz = np.linspace(0.0, config.sample_rate_hz / 2, config.n_fft // 2 + 1)
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(config.sample_rate_hz / 2), config.n_mels + 2))
    lower, centre, upper = edges_hz[:-2], edges_hz[1:-1], edges_hz[2:]
    rising = (fft_hz[:, None] - lower[None]) / (centre - lower)[None]
    falling = (upper[None] - fft_hz[:, None]) / (upper - centre)[None]
    bank = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (upper - lower))[None]
    return torch.from_numpy(bank.astype(np.float32))


def log_mel(samples: torch.Tensor, config: FeatureConfig = FeatureConfig()) -> torch.Tensor:
    """(B, N) waveform -> (B, T, n_mels) log-mel, T = N // hop_length, normalised per utterance.

    Frame t is centred at t * hop (torch.stft's `center=True`), so frame t describes
    [t*hop - n_fft/2, t*hop + n_fft/2).
    """
    window = torch.hann_window(config.n_fft, device=samples.device)
    spec = torch.stft(samples, config.n_fft, config.hop_length, window=window, center=True,
                      return_complex=True)
    power = spec.abs() ** 2  # (B, F, T+1)
    mel = torch.matmul(power.transpose(1, 2), _filterbank(config).to(samples.device))
    logmel = torch.log10(mel.clamp_min(1e-10))[:, : samples.shape[1] // config.hop_length]
    return torch.stack([_normalised(x, config) for x in logmel]) if len(logmel) else logmel


def _normalised(logmel: torch.Tensor, config: FeatureConfig) -> torch.Tensor:
    """(T, M) log10 mel power of one utterance -> the features its encoder expects."""
    if config.norm == "whisper":
        if not logmel.numel():
            return logmel
        return (torch.maximum(logmel, logmel.max() - 8.0) + 4.0) / 4.0
    if config.norm != "utterance":
        raise ValueError(f"unknown feature normalisation {config.norm!r}")
    return (logmel - logmel.mean()) / logmel.std().clamp_min(1e-3)


def log_mel_batch(waveforms: list[torch.Tensor], config: FeatureConfig = FeatureConfig()) -> list[torch.Tensor]:
    """Per-utterance `log_mel` of several 1-D waveforms with one STFT call: each is reflect-padded by
    itself (as `center=True` does) before the batch is zero-padded, so every result equals `log_mel`
    of that waveform alone (up to float rounding)."""
    half = config.n_fft // 2
    if len(waveforms) == 1 or min(w.shape[0] for w in waveforms) <= half:
        return [log_mel(w[None], config)[0] for w in waveforms]
    padded = [torch.nn.functional.pad(w[None, None], (half, half), mode="reflect")[0, 0] for w in waveforms]
    longest = max(p.shape[0] for p in padded)
    stacked = torch.stack([torch.nn.functional.pad(p, (0, longest - p.shape[0])) for p in padded])
    window = torch.hann_window(config.n_fft, device=stacked.device)
    spec = torch.stft(stacked, config.n_fft, config.hop_length, window=window, center=False, return_complex=True)
    mel = torch.matmul((spec.abs() ** 2).transpose(1, 2), _filterbank(config).to(stacked.device))
    logmel = torch.log10(mel.clamp_min(1e-10))
    out = []
    for b, w in enumerate(waveforms):
        out.append(_normalised(logmel[b, : w.shape[0] // config.hop_length], config))
    return out


def padded_log_mel(waveforms: list[torch.Tensor], config: FeatureConfig = FeatureConfig()
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """`log_mel_batch` zero-padded into one (B, Tm, n_mels) tensor, with each row's (B,) frame count (at
    least 1), on the waveforms' device."""
    feats = log_mel_batch(waveforms, config)
    device = waveforms[0].device
    out = torch.zeros(len(feats), max(1, max(f.shape[0] for f in feats)), config.n_mels, device=device)
    for b, f in enumerate(feats):
        out[b, : f.shape[0]] = f
    return out, torch.tensor([max(1, f.shape[0]) for f in feats], device=device)
