"""Poisson (inhomogeneous Poisson process) heads and their losses.

Frames k of width Δ; log-intensity l[k] per channel; λ_k = exp(l_k), Λ_T = Δ Σ_k λ_k.
- full NLL:         L = -Σ_j l[k(t_j)] + Λ_T          (the count is modelled: Λ_T -> n at the optimum)
- conditional NLL:  L = -Σ_j l[k(t_j)] + n log Λ_T    (softmax cross-entropy over frames, per event)
Both drop the constant -n log Δ... terms that do not depend on the model. Shapes in the docstrings.
"""
from __future__ import annotations

import math

import torch
from torch import nn

LOG_INTENSITY_MIN, LOG_INTENSITY_MAX = -30.0, 30.0
LOSS_VARIANTS = ("full", "conditional")


def _masked(log_intensity: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return log_intensity.clamp(LOG_INTENSITY_MIN, LOG_INTENSITY_MAX).masked_fill(~mask, -math.inf)


def poisson_nll(log_intensity: torch.Tensor, mask: torch.Tensor, event_frames: torch.Tensor,
                frame_shift_s: float, variant: str = "full") -> torch.Tensor:
    """Mean over the batch of the IHP negative log-likelihood.

    log_intensity (B, T); mask (B, T) valid frames; event_frames (B, N) frame index of each event, -1 pad.
    """
    if variant not in LOSS_VARIANTS:
        raise ValueError(f"unknown Poisson loss variant {variant!r}; choose from {LOSS_VARIANTS}")
    l = _masked(log_intensity, mask)  # (B, T)
    valid = event_frames >= 0  # (B, N)
    picked = torch.gather(l, 1, event_frames.clamp_min(0)).masked_fill(~valid, 0.0)  # (B, N)
    log_total = torch.logsumexp(l, dim=1) + math.log(frame_shift_s)  # (B,) log Λ_T
    n = valid.sum(dim=1).to(l.dtype)
    if variant == "full":
        loss = -picked.sum(1) + log_total.exp()
    else:
        loss = -picked.sum(1) + n * log_total
    return loss.mean()


class PoissonHead(nn.Module):
    """Per-frame log-intensity for C exchangeable event channels: l[k, c] = w_c · d_k + b_c."""

    def __init__(self, hidden: int, channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(hidden, channels)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, H) -> (B, T, C) log-intensity."""
        return self.proj(frames).clamp(LOG_INTENSITY_MIN, LOG_INTENSITY_MAX)


class PointerHead(nn.Module):
    """One single-event intensity per transcript word and channel (onset, offset):
    l[i, k, c] = (W_c q_i) · d_k / sqrt(H) + b_c, with q_i the word's state and d_k a frame state."""

    def __init__(self, hidden: int, channels: int = 2) -> None:
        super().__init__()
        self.query = nn.Linear(hidden, hidden * channels)
        self.key = nn.Linear(hidden, hidden * channels)
        self.channels = channels
        self.hidden = hidden

    def forward(self, words: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """words (B, W, H), frames (B, T, H) -> (B, C, W, T) log-intensity."""
        B, W, H = words.shape
        q = self.query(words).view(B, W, self.channels, H).transpose(1, 2)  # (B, C, W, H)
        k = self.key(frames).view(B, -1, self.channels, H).transpose(1, 2)  # (B, C, T, H)
        return (q @ k.transpose(2, 3) / math.sqrt(H)).clamp(LOG_INTENSITY_MIN, LOG_INTENSITY_MAX)


IGNORE = -1  # target code besides a frame index: not scored


def subframe_split(place: torch.Tensor, frame: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor):
    """Target mass for events at `place` in [0, 1) inside `frame` (integer tensors of one shape), frames lo..hi
    allowed: -> (mass on the frame, the neighbour frame that takes the rest, inside lo..hi). The two frames'
    posterior median, read with a uniform density within each frame as the decoders read it, is frame + place:
    place >= 0.5 puts 0.5 / place on the frame and the rest on the next; place < 0.5 puts
    (0.5 - place) / (1 - place) on the previous frame. A neighbour outside lo..hi leaves all of it on the frame."""
    place = place.clamp(0.0, 1.0 - 1e-6)
    late = place >= 0.5
    here = torch.where(late, 0.5 / place.clamp_min(0.5), 1.0 - (0.5 - place) / (1.0 - place))
    other = torch.where(late, frame + 1, frame - 1)
    inside = (other >= lo) & (other <= hi)
    return torch.where(inside, here, torch.ones_like(here)), torch.maximum(torch.minimum(other, hi), lo)


def pointer_nll(log_intensity: torch.Tensor, frame_mask: torch.Tensor, word_mask: torch.Tensor,
                target_frames: torch.Tensor, frame_shift_s: float, variant: str = "conditional",
                places: torch.Tensor | None = None) -> torch.Tensor:
    """Single-event (n = 1) IHP loss of every word's pointer, averaged over scored words.
    `places` (B, C, W): where in its target frame each boundary lies, in [0, 1): the target mass is split
    between that frame and a neighbour (subframe_split) and the loss is its expectation.

    log_intensity (B, C, W, T); frame_mask (B, T); word_mask (B, W); target_frames (B, C, W): a frame
    index or IGNORE.
    """
    B, C, W, T = log_intensity.shape
    l = _masked(log_intensity.float(), frame_mask[:, None, None, :])  # (B, C, W, T), fp32 under autocast
    picked = torch.gather(l, 3, target_frames.clamp_min(0)[..., None])[..., 0]  # (B, C, W)
    if places is not None:
        last = (frame_mask.sum(dim=1)[:, None, None] - 1).clamp_min(0).expand_as(target_frames)
        here, other = subframe_split(places.to(l.dtype), target_frames.clamp_min(0), torch.zeros_like(last), last)
        beside = torch.gather(l, 3, other[..., None])[..., 0]
        picked = here * picked + (1 - here) * torch.where(here < 1, beside, torch.zeros_like(beside))
    log_total = torch.logsumexp(l, dim=3) + math.log(frame_shift_s)  # (B, C, W)
    scored = word_mask[:, None, :] & (target_frames >= 0)
    if variant == "full":
        per_word = -picked + log_total.exp()
    elif variant == "conditional":
        per_word = -picked + log_total
    else:
        raise ValueError(f"unknown Poisson loss variant {variant!r}; choose from {LOSS_VARIANTS}")
    weight = scored.to(per_word.dtype)
    return (per_word * weight).sum() / weight.sum().clamp_min(1.0)
