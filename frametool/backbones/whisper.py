"""A Whisper-style audio encoder (two convolutions, fixed sinusoidal positions, pre-norm transformer
layers, a final layer norm), built to take the weights of a real-speech Whisper model (tiny.en, base)
from a CTranslate2 `model.bin`, so frametool's decoder and heads sit on states that have heard real speech.

Shapes: log-mel (B, Tm, 80) at 10 ms (Whisper's normalisation, FeatureConfig(norm="whisper"))
-> conv1 (k 3) -> conv2 (k 3, stride 2) -> (B, T, D) at 20 ms, T <= `positions` (1500 = 30 s).
Windows shorter than 30 s use the first T position rows; `start` rows further on where given (training
with position jitter, so states cut out of a longer window look like a segment's own).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from frametool.errors import ModelError


@dataclass(frozen=True)
class WhisperShape:
    dim: int = 384  # tiny.en 384, base 512
    heads: int = 6  # tiny.en 6, base 8
    layers: int = 4  # tiny.en 4, base 6
    n_mels: int = 80
    positions: int = 1500  # 30 s of 20 ms frames


def whisper_layer(shape: WhisperShape) -> nn.TransformerEncoderLayer:
    """One Whisper encoder block: x + attn(ln(x)), then x + mlp(ln(x)), GELU, 4x feed-forward."""
    return nn.TransformerEncoderLayer(shape.dim, shape.heads, 4 * shape.dim, 0.0, activation="gelu",
                                      batch_first=True, norm_first=True)


class WhisperEncoder(nn.Module):
    def __init__(self, shape: WhisperShape) -> None:
        super().__init__()
        self.shape = shape
        self.conv1 = nn.Conv1d(shape.n_mels, shape.dim, 3, padding=1)
        self.conv2 = nn.Conv1d(shape.dim, shape.dim, 3, stride=2, padding=1)
        self.register_buffer("positions", torch.zeros(shape.positions, shape.dim))
        self.layers = nn.ModuleList(whisper_layer(shape) for _ in range(shape.layers))
        self.norm = nn.LayerNorm(shape.dim)

    def forward(self, feats: torch.Tensor, mask: torch.Tensor, start: torch.Tensor | None = None) -> torch.Tensor:
        """feats (B, Tm, M), mask (B, T) True on real frames, start (B,) first position row -> (B, T, D)."""
        from frametool.backbones.tiny import layer_step

        x = F.gelu(self.conv1(feats.transpose(1, 2)))
        x = F.gelu(self.conv2(x)).transpose(1, 2)  # (B, T, D)
        T = x.shape[1]
        if T > self.shape.positions:
            raise ModelError(f"the Whisper encoder reads at most {self.shape.positions} frames (30 s) at once, "
                             f"got {T}")
        if start is None:
            x = x + self.positions[:T][None]
        else:
            rows = start[:, None].to(x.device) + torch.arange(T, device=x.device)[None]
            x = x + self.positions[rows.clamp_max(self.shape.positions - 1)]
        attend = mask[:, None, None, :]
        for layer in self.layers:
            x, _ = layer_step(layer, x, attend)
        return self.norm(x)


def shape_of(variables: dict[str, np.ndarray]) -> WhisperShape:
    """The encoder shape a CTranslate2 Whisper model's variables describe."""
    layers = sum(1 for k in variables if k.startswith("encoder/layer_") and k.endswith("/ffn/linear_0/weight"))
    pos = variables["encoder/position_encodings/encodings"]
    heads = int(np.asarray(variables.get("encoder/num_heads", 0)).reshape(-1)[0]) or pos.shape[1] // 64
    return WhisperShape(dim=pos.shape[1], heads=heads, layers=layers,
                        n_mels=variables["encoder/conv1/weight"].shape[1], positions=pos.shape[0])


def load_ct2_encoder(encoder: WhisperEncoder, path: Path) -> None:
    """Copy a CTranslate2 Whisper model's encoder weights (`encoder/...`) into `encoder` (same shape)."""
    from frametool.backbones.ct2 import read_ct2

    model = read_ct2(path, prefix="encoder/")
    if "encoder/conv1/weight" not in model.variables:
        raise ModelError(f"{path} holds no Whisper encoder (spec {model.spec!r})")
    found = shape_of(model.variables)
    if found != encoder.shape:
        raise ModelError(f"{path}: its Whisper encoder is {found}, the model expects {encoder.shape}")

    def t(name: str) -> torch.Tensor:
        return torch.from_numpy(np.array(model.get("encoder/" + name), dtype=np.float32))

    with torch.no_grad():
        for conv in ("conv1", "conv2"):
            getattr(encoder, conv).weight.copy_(t(f"{conv}/weight"))
            getattr(encoder, conv).bias.copy_(t(f"{conv}/bias"))
        encoder.positions.copy_(t("position_encodings/encodings"))
        for i, layer in enumerate(encoder.layers):
            p = f"layer_{i}/"
            layer.self_attn.in_proj_weight.copy_(t(p + "self_attention/linear_0/weight"))
            layer.self_attn.in_proj_bias.copy_(t(p + "self_attention/linear_0/bias"))
            layer.self_attn.out_proj.weight.copy_(t(p + "self_attention/linear_1/weight"))
            layer.self_attn.out_proj.bias.copy_(t(p + "self_attention/linear_1/bias"))
            layer.norm1.weight.copy_(t(p + "self_attention/layer_norm/gamma"))
            layer.norm1.bias.copy_(t(p + "self_attention/layer_norm/beta"))
            layer.linear1.weight.copy_(t(p + "ffn/linear_0/weight"))
            layer.linear1.bias.copy_(t(p + "ffn/linear_0/bias"))
            layer.linear2.weight.copy_(t(p + "ffn/linear_1/weight"))
            layer.linear2.bias.copy_(t(p + "ffn/linear_1/bias"))
            layer.norm2.weight.copy_(t(p + "ffn/layer_norm/gamma"))
            layer.norm2.bias.copy_(t(p + "ffn/layer_norm/beta"))
        encoder.norm.weight.copy_(t("layer_norm/gamma"))
        encoder.norm.bias.copy_(t("layer_norm/beta"))
