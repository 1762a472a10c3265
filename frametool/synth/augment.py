"""Waveform augmentation for synthetic training speech; every function returns the new word times too.

All randomness comes from the `numpy.random.Generator` passed in, so a seed reproduces a corpus.
"""
from __future__ import annotations

import numpy as np
import soxr

Spans = list[tuple[float, float]]


def speed(x: np.ndarray, sr: int, factor: float, spans: Spans) -> tuple[np.ndarray, Spans]:
    """Play `factor` times faster (tempo and pitch together, as a tape would)."""
    y = soxr.resample(x, sr * factor, sr).astype(np.float32)
    return y, [(a / factor, b / factor) for a, b in spans]


def reverb(x: np.ndarray, sr: int, rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room: a direct path at lag 0 plus exponentially decaying noise."""
    n = int(sr * rt60_s)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s) * 10 ** (rng.uniform(-1.6, -0.8))
    tail[: int(0.002 * sr)] = 0.0  # early gap so the direct sound stays first
    rir = tail
    rir[0] = 1.0
    size = 1 << int(np.ceil(np.log2(len(x) + n)))
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(rir, size), size)[: len(x)]
    return (y / (np.max(np.abs(y)) + 1e-9) * np.max(np.abs(x))).astype(np.float32)


def band_limit(x: np.ndarray, sr: int, low_hz: float, high_hz: float) -> np.ndarray:
    """Keep only low_hz..high_hz (a telephone channel is 300..3400 Hz)."""
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1 / sr)
    spectrum[(freqs < low_hz) | (freqs > high_hz)] = 0
    return np.fft.irfft(spectrum, len(x)).astype(np.float32)


def coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectrum 1/f^exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    noise = np.fft.irfft(spectrum / freqs ** (exponent / 2), n)
    return (noise / (np.sqrt(np.mean(noise ** 2)) + 1e-12)).astype(np.float32)


def add_noise(x: np.ndarray, snr_db: float, exponent: float, rng: np.random.Generator) -> np.ndarray:
    active = x[np.abs(x) > 1e-4]
    signal_rms = np.sqrt(np.mean(active ** 2)) if active.size else 1e-3
    return x + coloured_noise(len(x), exponent, rng) * signal_rms * 10 ** (-snr_db / 20)


def augment(x: np.ndarray, sr: int, spans: Spans, rng: np.random.Generator) -> tuple[np.ndarray, Spans]:
    """The training chain: speed, room, channel, noise, level, clipping and DC offset, each at random."""
    if rng.random() < 0.5:
        x, spans = speed(x, sr, float(rng.uniform(0.85, 1.15)), spans)
    if rng.random() < 0.3:
        x = reverb(x, sr, float(rng.uniform(0.15, 0.7)), rng)
    if rng.random() < 0.25:
        low, high = (300.0, 3400.0) if rng.random() < 0.5 else (float(rng.uniform(50, 200)),
                                                                  float(rng.uniform(3500, 7500)))
        x = band_limit(x, sr, low, high)
    if rng.random() < 0.6:
        x = add_noise(x, float(rng.uniform(5, 35)), float(rng.choice([0.0, 1.0, 2.0])), rng)
    peak = np.max(np.abs(x)) + 1e-9
    x = x / peak * 10 ** (rng.uniform(-30, -1) / 20)
    if rng.random() < 0.05:
        x = np.clip(x * 4, -0.5, 0.5)
    if rng.random() < 0.1:
        x = x + rng.uniform(-0.02, 0.02)
    return np.clip(x, -1, 1).astype(np.float32), spans
