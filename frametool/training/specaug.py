"""Training-time changes to a batch's log-mel features that a recording channel or speaker could make,
so the model leans less on the exact spectra of synthetic voices.

- Channel colouring: every utterance gets its own smooth gain curve over the mel bands (a microphone,
  room or codec equalises the spectrum; a few dB up or down, slowly varying with frequency).
- Frequency masks: a few bands of adjacent mel bins are set to the utterance mean (0 after the per-utterance
  normalisation), as SpecAugment does; no time masks, since the model must see every word boundary.

Only frames inside each utterance's length change (padding stays zero). Randomness comes from the
`torch.Generator` passed in, so a seed reproduces a run.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FeatureAugment:
    p: float = 0.0  # probability that an utterance is changed at all (0 = off)
    tilt: float = 0.0  # largest amplitude of the gain curve, in normalised log-mel units (one is about 18 dB of speech)
    tilt_terms: int = 3  # cosines over the mel axis that make up the curve (higher = wigglier)
    freq_masks: int = 0  # bands masked per changed utterance
    freq_mask_bins: int = 0  # widest band, in mel bins

    @property
    def active(self) -> bool:
        return self.p > 0 and (self.tilt > 0 or (self.freq_masks > 0 and self.freq_mask_bins > 0))


def augment_features(feats: torch.Tensor, feat_lens: torch.Tensor, config: FeatureAugment,
                     generator: torch.Generator) -> torch.Tensor:
    """(B, Tm, M) normalised log-mel, (B,) valid lengths -> a changed copy (the input is left alone)."""
    if not config.active:
        return feats
    B, Tm, M = feats.shape
    valid = (torch.arange(Tm, device=feats.device)[None] < feat_lens[:, None]).to(feats.dtype)[..., None]  # (B, Tm, 1)
    chosen = torch.rand(B, generator=generator) < config.p
    gain = torch.zeros(B, M)
    if config.tilt > 0 and config.tilt_terms > 0:
        k = torch.arange(1, config.tilt_terms + 1, dtype=torch.float32)
        mel = (torch.arange(M, dtype=torch.float32) + 0.5) / M
        basis = torch.cos(torch.pi * k[:, None] * mel[None])  # (K, M)
        # lower-order terms (broad tilts) stronger than the wiggles
        weights = (torch.rand(B, config.tilt_terms, generator=generator) * 2 - 1) / k[None]
        curve = weights @ basis  # (B, M)
        curve = curve / curve.abs().amax(dim=1, keepdim=True).clamp_min(1e-6)
        gain = curve * config.tilt * torch.rand(B, 1, generator=generator)
    keep = torch.ones(B, M)
    if config.freq_masks > 0 and config.freq_mask_bins > 0:
        bins = torch.arange(M)[None]
        for _ in range(config.freq_masks):
            width = torch.randint(0, config.freq_mask_bins + 1, (B,), generator=generator)
            start = (torch.rand(B, generator=generator) * (M - width + 1).float()).long()
            keep = keep * ~((bins >= start[:, None]) & (bins < (start + width)[:, None]))
    gain = torch.where(chosen[:, None], gain, torch.zeros_like(gain)).to(feats.device, feats.dtype)
    keep = torch.where(chosen[:, None], keep, torch.ones_like(keep)).to(feats.device, feats.dtype)
    return (feats + gain[:, None, :] * valid) * keep[:, None, :]
