"""Binary per-frame head: p_k = sigmoid(l_k), trained with BCE whose positives are reweighted by
#negative / #positive frames (so rare event frames are not drowned by the rest)."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class BinaryHead(nn.Module):
    def __init__(self, hidden: int, channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(hidden, channels)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, H) -> (B, T, C) logits."""
        return self.proj(frames)


def weighted_bce(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """logits, targets (B, T, C) (targets in {0, 1}); mask (B, T). Mean over valid frames and channels."""
    valid = mask[..., None].expand_as(logits).to(logits.dtype)
    positives = (targets * valid).sum()
    negatives = ((1 - targets) * valid).sum()
    pos_weight = (negatives / positives.clamp_min(1.0)).detach()
    loss = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight, reduction="none")
    return (loss * valid).sum() / valid.sum().clamp_min(1.0)
