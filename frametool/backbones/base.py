"""What every backbone returns: frame states on a FrameGrid, plus the transcript tokens' query states."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class BackboneOutput:
    frames: torch.Tensor  # (B, T, H) last-layer states at the audio frames
    frame_mask: torch.Tensor  # (B, T) True where a frame holds audio
    words: torch.Tensor  # (B, W, H) states at each transcript token's last text position
    word_mask: torch.Tensor  # (B, W) True where a word exists
    frame_shift_s: float
    audio: torch.Tensor | None = None  # (B, T, H) the audio encoder's states (before the LM), where it has one
