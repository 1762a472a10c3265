"""Spontaneous-speech effects for synthetic training speech, with exact word times kept.

Read and spontaneous speech differ where a forced aligner fails most: hesitation fillers ("uh", "um") that
last half a second, words drawn out while the speaker thinks, and sounds between words that the transcript
does not mention (a cough, a breath, a click, a cut-off word). Text-to-speech engines produce none of them,
so this module adds them to a synthesised utterance:

- `add_fillers`: fillers inserted between words of the transcript (they are transcribed, as aligners'
  corpora transcribe them);
- `prolong`: a word drawn out by a pitch-preserving time stretch (WSOLA) of all or its last part;
- `add_events`: untranscribed sounds placed inside pauses, never over a word.

All randomness comes from the generators passed in, so a seed reproduces a corpus.
"""
from __future__ import annotations

import random

import numpy as np

Spans = list[tuple[float, float]]
FILLERS = ("uh", "um", "er", "ah", "hmm", "mm")


def add_fillers(words: list[str], rng: random.Random, rate: float = 0.12) -> list[str]:
    """Insert a filler before each word with probability `rate` (at least one per call)."""
    out: list[str] = []
    inserted = False
    for i, word in enumerate(words):
        if i and rng.random() < rate:
            out.append(rng.choice(FILLERS))
            inserted = True
        out.append(word)
    if not inserted:
        out.insert(rng.randint(0, len(out)), rng.choice(FILLERS))
    return out


def stretch(x: np.ndarray, factor: float, window: int = 512) -> np.ndarray:
    """`x` played `factor` times longer at the same pitch: waveform-similarity overlap-add (WSOLA).
    Each output frame is taken from near its nominal input position where it best continues the last."""
    x = np.asarray(x, dtype=np.float32)
    n_out = int(round(len(x) * factor))
    if n_out == len(x):
        return x.copy()
    if len(x) < window:  # shorter than one frame: no period to repeat, so resample (pitch moves)
        return np.interp(np.linspace(0, len(x) - 1, n_out), np.arange(len(x)), x).astype(np.float32)
    hop_out = window // 2
    hop_in = hop_out / factor
    tolerance = hop_out // 2
    pad = window + tolerance
    xp = np.pad(x, (pad, pad))
    w = np.hanning(window).astype(np.float32)
    y = np.zeros(n_out + 2 * window, dtype=np.float32)
    norm = np.zeros_like(y)
    follow = None
    for k in range(n_out // hop_out + 2):
        nominal = int(round(k * hop_in)) + pad
        if follow is None:
            start = nominal
        else:
            region = xp[nominal - tolerance: nominal + tolerance + window]
            start = nominal - tolerance + int(np.argmax(np.correlate(region, follow, mode="valid")))
        y[k * hop_out: k * hop_out + window] += xp[start: start + window] * w
        norm[k * hop_out: k * hop_out + window] += w
        follow = xp[start + hop_out: start + hop_out + window]
    return (y / np.maximum(norm, 0.1))[:n_out]


def prolong(x: np.ndarray, sr: int, spans: Spans, index: int, factor: float, part: float = 1.0
            ) -> tuple[np.ndarray, Spans]:
    """Draw out word `index` by `factor`: its last `part` (fraction of its duration) is stretched, and
    every later time moves by the added length."""
    a_s, b_s = spans[index]
    a = int(round((b_s - part * (b_s - a_s)) * sr))
    b = int(round(b_s * sr))
    if b - a < 2:
        return x, spans
    longer = stretch(x[a:b], factor)
    added_s = (len(longer) - (b - a)) / sr
    y = np.concatenate([x[:a], longer, x[b:]]).astype(np.float32)
    moved = [(s + added_s if s >= b_s - 1e-9 else s, e + added_s if e >= b_s - 1e-9 else e) for s, e in spans]
    moved[index] = (a_s, b_s + added_s)
    return y, moved


def _band_noise(n: int, sr: int, low_hz: float, high_hz: float, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sr)
    spectrum[(freqs < low_hz) | (freqs > high_hz)] = 0
    noise = np.fft.irfft(spectrum, n)
    return (noise / (np.sqrt(np.mean(noise ** 2)) + 1e-12)).astype(np.float32)


def event(kind: str, sr: int, level: float, x: np.ndarray, spans: Spans, rng: np.random.Generator) -> np.ndarray:
    """One untranscribed sound: cough, breath, click or fragment (the first 80-250 ms of a word of the
    same utterance, as a speaker who breaks off). `level`: the speech's RMS."""
    if kind == "cough":
        parts = []
        for _ in range(int(rng.integers(1, 3))):
            n = int(rng.uniform(0.08, 0.25) * sr)
            t = np.arange(n) / sr
            centre = rng.uniform(400, 2000)
            env = np.minimum(t / 0.01, 1.0) * np.exp(-t / rng.uniform(0.03, 0.1))
            parts += [_band_noise(n, sr, centre * 0.5, centre * 2.5, rng) * env * level * rng.uniform(1.0, 3.0),
                      np.zeros(int(rng.uniform(0.03, 0.12) * sr), np.float32)]
        return np.concatenate(parts[:-1]).astype(np.float32)
    if kind == "breath":
        n = int(rng.uniform(0.2, 0.5) * sr)
        env = np.sin(np.linspace(0, np.pi, n)) ** 2
        return (_band_noise(n, sr, 300, 4000, rng) * env * level * rng.uniform(0.05, 0.3)).astype(np.float32)
    if kind == "click":
        n = int(rng.uniform(0.003, 0.012) * sr)
        return (rng.standard_normal(n) * np.exp(-np.arange(n) / (0.002 * sr)) * level * rng.uniform(1, 4)
                ).astype(np.float32)
    a_s, b_s = spans[int(rng.integers(len(spans)))]
    a = int(a_s * sr)
    n = max(16, min(int(rng.uniform(0.08, 0.25) * sr), int((b_s - a_s) * sr * 0.7)))
    piece = x[a: a + n].astype(np.float32).copy()
    fade = min(len(piece) // 2, int(0.01 * sr))
    if fade:
        ramp = np.linspace(0, 1, fade, dtype=np.float32)
        piece[:fade] *= ramp
        piece[-fade:] *= ramp[::-1]
    return piece


def add_events(x: np.ndarray, sr: int, spans: Spans, rng: np.random.Generator, rate: float = 0.35,
               margin_s: float = 0.06) -> np.ndarray:
    """In every pause (before, between and after the words) with room for it, with probability `rate`,
    add one untranscribed sound at least `margin_s` from either word. Word times do not change."""
    y = x.astype(np.float32).copy()
    speech = np.concatenate([x[int(a * sr): int(b * sr)] for a, b in spans]) if spans else x
    level = float(np.sqrt(np.mean(speech ** 2))) if speech.size else 0.05
    edges = [0.0] + [t for a, b in spans for t in (a, b)] + [len(x) / sr]
    for gap_start, gap_end in zip(edges[0::2], edges[1::2]):
        if rng.random() >= rate:
            continue
        kind = str(rng.choice(["cough", "breath", "click", "fragment"], p=[0.3, 0.3, 0.15, 0.25]))
        sound = event(kind, sr, level, x, spans, rng) if spans or kind != "fragment" else None
        if sound is None:
            continue
        room = (gap_end - gap_start) - 2 * margin_s - len(sound) / sr
        if room <= 0:
            continue
        at = int((gap_start + margin_s + rng.uniform(0, room)) * sr)
        y[at: at + len(sound)] += sound[: max(0, len(y) - at)]
    return y
