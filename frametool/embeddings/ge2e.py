"""Speaker embeddings: the GE2E voice encoder (Wan et al. 2018) whose weights ship in the PyPI wheel
`resemblyzer==0.1.4` (Apache-2.0, Resemble AI), used to link speakers across the windows of a long recording.

frametool never imports resemblyzer (it needs librosa and webrtcvad) and never copies its weights: it finds
the installed package's `pretrained.pt`, checks its SHA-256, reads only the tensors (`torch.load(...,
weights_only=True)`) into its own 3-layer LSTM (40 mel bands -> 256 -> ReLU -> L2-normalised 256-d), and
computes the encoder's input itself: a power mel spectrogram, 25 ms Hann windows every 10 ms, 40 Slaney mel
bands from 0 to 8 kHz, of audio raised to -30 dBFS; an utterance's embedding is the normalised mean over
1.6 s partial windows. `pip install --no-deps resemblyzer==0.1.4` installs the weights.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from frametool.embeddings import installed, load_checked, load_encoder, wheel_file
from frametool.errors import ModelError

PACKAGE = "resemblyzer"
VERSION = "0.1.4"
WEIGHTS = "pretrained.pt"
SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
SAMPLE_RATE_HZ = 16000
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s
TARGET_DBFS = -30.0


def slaney_mel_filters(sample_rate_hz: int = SAMPLE_RATE_HZ, n_fft: int = WINDOW, n_mels: int = N_MELS
                       ) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters on the Slaney mel scale (linear below 1 kHz, logarithmic
    above), each normalised to unit area."""
    def to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        return np.where(f < 1000.0, 3.0 * f / 200.0, 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27.0))

    def to_hz(m):
        m = np.asarray(m, dtype=np.float64)
        return np.where(m < 15.0, 200.0 * m / 3.0, 1000.0 * np.exp((m - 15.0) * np.log(6.4) / 27.0))

    bins = np.linspace(0, sample_rate_hz / 2, n_fft // 2 + 1)
    edges = to_hz(np.linspace(to_mel(0.0), to_mel(sample_rate_hz / 2), n_mels + 2))
    rising = (bins[None] - edges[:-2, None]) / np.diff(edges)[:-1, None]
    falling = (edges[2:, None] - bins[None]) / np.diff(edges)[1:, None]
    filters = np.maximum(0.0, np.minimum(rising, falling))
    return (filters * (2.0 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)


def power_mel(samples: np.ndarray) -> np.ndarray:
    """16 kHz samples -> (frames, 40) power mel spectrogram (centred frames, zero padding)."""
    x = np.asarray(samples, dtype=np.float32)
    x = np.pad(x, (WINDOW // 2, WINDOW // 2))
    if len(x) < WINDOW:
        x = np.pad(x, (0, WINDOW - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, WINDOW)[::HOP]
    window = np.hanning(WINDOW + 1)[:-1].astype(np.float32)  # periodic Hann
    spectrum = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    return (spectrum @ _filters().T).astype(np.float32)


@lru_cache(maxsize=1)
def _filters() -> np.ndarray:
    return slaney_mel_filters()


def raise_level(samples: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """Quiet audio raised to `target_dbfs` (RMS); louder audio kept as it is."""
    x = np.asarray(samples, dtype=np.float32)
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if len(x) else 0.0
    if rms <= 0:
        return x
    gain_db = target_dbfs - 20 * np.log10(rms)
    return x * np.float32(10 ** (gain_db / 20)) if gain_db > 0 else x


class VoiceEncoder(nn.Module):
    """(B, 160, 40) power mel -> (B, 256) L2-normalised speaker embeddings."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, 256, 3, batch_first=True)
        self.linear = nn.Linear(256, 256)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        raw = torch.relu(self.linear(hidden[-1]))
        return raw / raw.norm(dim=1, keepdim=True).clamp_min(1e-8)

    def embed(self, pieces: list[np.ndarray], batch: int = 64) -> np.ndarray:
        """Each piece of 16 kHz audio -> one (256,) embedding: the normalised mean over its 1.6 s partial
        windows (every 0.8 s; a piece shorter than 1.6 s is zero-padded). -> (len(pieces), 256)."""
        return self.embed_mels([power_mel(raise_level(piece)) for piece in pieces], batch)

    @torch.no_grad()
    def embed_mels(self, mels: list[np.ndarray], batch: int = 64) -> np.ndarray:
        """`embed` from each piece's (frames, 40) power mel spectrogram (of audio raised to -30 dBFS)."""
        partials, owner = [], []
        for i, mel in enumerate(mels):
            if len(mel) < PARTIAL_FRAMES:
                mel = np.pad(mel, ((0, PARTIAL_FRAMES - len(mel)), (0, 0)))
            starts = list(range(0, len(mel) - PARTIAL_FRAMES + 1, PARTIAL_FRAMES // 2))
            if starts[-1] + PARTIAL_FRAMES < len(mel) - PARTIAL_FRAMES // 4:
                starts.append(len(mel) - PARTIAL_FRAMES)
            for s in starts:
                partials.append(mel[s:s + PARTIAL_FRAMES])
                owner.append(i)
        if not partials:
            return np.zeros((0, 256), dtype=np.float32)
        device = next(self.parameters()).device
        out = [self(torch.from_numpy(np.stack(partials[k:k + batch])).to(device)).cpu().numpy()
               for k in range(0, len(partials), batch)]
        embeds = np.concatenate(out)
        owner_arr = np.asarray(owner)
        means = np.stack([embeds[owner_arr == i].mean(axis=0) for i in range(len(mels))])
        return (means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-8)).astype(np.float32)


class SpanEmbedder:
    """Embeddings of stretches of ONE recording, its mel spectrogram computed once: a piece is a list of
    (start_s, end_s) spans, embedded as the concatenation of their mel frames, raised to -30 dBFS as a whole
    (a gain g scales a power spectrum by g^2)."""

    def __init__(self, encoder: VoiceEncoder, samples: np.ndarray) -> None:
        self.encoder = encoder
        self.samples = np.asarray(samples, dtype=np.float32)
        self._mel: np.ndarray | None = None
        self._energy = np.concatenate([[0.0], np.cumsum(self.samples.astype(np.float64) ** 2)])

    def __call__(self, pieces: list[list[tuple[float, float]]]) -> np.ndarray:
        if self._mel is None:
            self._mel = power_mel(self.samples)
        frames_per_s = SAMPLE_RATE_HZ / HOP
        mels = []
        for spans in pieces:
            parts, energy, count = [], 0.0, 0
            for a, b in spans:
                lo, hi = max(0, int(round(a * SAMPLE_RATE_HZ))), min(len(self.samples), int(round(b * SAMPLE_RATE_HZ)))
                if hi > lo:
                    energy += self._energy[hi] - self._energy[lo]
                    count += hi - lo
                parts.append(self._mel[int(round(a * frames_per_s)):int(round(b * frames_per_s))])
            mel = np.concatenate(parts) if parts else np.zeros((0, N_MELS), dtype=np.float32)
            rms = np.sqrt(energy / count) if count else 0.0
            if rms > 0:
                gain_db = TARGET_DBFS - 20 * np.log10(rms)
                if gain_db > 0:
                    mel = mel * np.float32(10 ** (gain_db / 10))
            mels.append(mel)
        return self.encoder.embed_mels(mels)


def weights_path() -> Path:
    """The installed wheel's `pretrained.pt` (found without importing the package)."""
    return wheel_file(PACKAGE, VERSION, WEIGHTS, "speaker embeddings")


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """The encoder tensors of a `pretrained.pt` whose SHA-256 is the pinned one."""
    checkpoint = load_checked(path, SHA256, PACKAGE, VERSION, "GE2E")
    state = checkpoint.get("model_state", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ModelError(f"{path}: not a GE2E checkpoint")
    return {k: v.float() for k, v in state.items() if k.startswith(("lstm.", "linear."))}


@lru_cache(maxsize=1)
def voice_encoder() -> VoiceEncoder:
    return load_encoder(VoiceEncoder(), weights_path, load_state, "the GE2E voice encoder")


def available() -> bool:
    return installed(weights_path)
