"""Training-time changes to a batch's log-mel features that a recording channel or speaker could make,
so the model leans less on the exact spectra of synthetic voices.

- Channel colouring: every utterance gets its own smooth gain curve over the mel bands (a microphone,
  room or codec equalises the spectrum; a few dB up or down, slowly varying with frequency).
- Frequency masks: a few bands of adjacent mel bins are set to the utterance mean (0 after the per-utterance
  normalisation), as SpecAugment does; no time masks, since the model must see every word boundary.
- Vocal tract length: the mel axis is stretched or squeezed by up to `warp` (a longer or shorter vocal tract
  moves every formant by the same factor), so a few synthetic voices stand for many speakers.
- Time smearing: the features are smoothed over time with a triangular kernel up to `blur` frames each way,
  so transitions between sounds are less abrupt, as in coarticulated or reverberant speech.

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
    warp: float = 0.0  # largest relative stretch of the mel axis (0.1: formants 10 % up or down)
    blur: int = 0  # widest time smoothing, in feature frames each side of the centre

    @property
    def active(self) -> bool:
        return self.p > 0 and (self.tilt > 0 or (self.freq_masks > 0 and self.freq_mask_bins > 0)
                               or self.warp > 0 or self.blur > 0)


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
    out = feats
    if config.warp > 0:
        factor = 1 + (torch.rand(B, generator=generator) * 2 - 1) * config.warp
        out = warp_mel(out, torch.where(chosen, factor, torch.ones_like(factor)))
    if config.blur > 0:
        width = torch.randint(0, config.blur + 1, (B,), generator=generator)
        out = smear(out, torch.where(chosen, width, torch.zeros_like(width)), valid)
    return (out + gain[:, None, :] * valid) * keep[:, None, :]


def warp_mel(feats: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """(B, Tm, M) features, (B,) factors -> bin m takes the value the input has at bin m / factor (linear
    interpolation; past the top bin the top bin repeats). factor > 1 moves the spectrum up, as a shorter
    vocal tract does."""
    B, _, M = feats.shape
    source = ((torch.arange(M, dtype=torch.float32)[None] + 0.5) / factor[:, None] - 0.5).clamp(0, M - 1)  # (B, M)
    low = source.floor().long().clamp(max=M - 2) if M > 1 else source.floor().long()
    high = (low + 1).clamp(max=M - 1)
    frac = (source - low.float()).to(feats.device, feats.dtype)
    low, high = low.to(feats.device), high.to(feats.device)
    pick = lambda idx: torch.gather(feats, 2, idx[:, None, :].expand(-1, feats.shape[1], -1))  # noqa: E731
    return pick(low) * (1 - frac[:, None, :]) + pick(high) * frac[:, None, :]


def smear(feats: torch.Tensor, width: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, Tm, M) features, (B,) kernel half-widths in frames, (B, Tm, 1) validity -> each utterance smoothed
    over time with a triangular kernel of its half-width (0 = unchanged); frames past an utterance's end do not
    leak into it (the kernel is renormalised over valid frames)."""
    out = feats.clone()
    for w in sorted(set(width.tolist()) - {0}):
        rows = (width == w).nonzero().flatten().to(feats.device)
        kernel = torch.cat([torch.arange(1, w + 2), torch.arange(w, 0, -1)]).to(feats.device, feats.dtype)
        x = (feats[rows] * valid[rows]).transpose(1, 2)  # (b, M, Tm)
        b, M, Tm = x.shape
        conv = lambda y, c: torch.nn.functional.conv1d(  # noqa: E731
            y.reshape(b * c, 1, Tm), kernel[None, None], padding=w).reshape(b, c, Tm)
        total = conv(x, M)
        weight = conv(valid[rows].transpose(1, 2), 1).clamp_min(1e-6)
        out[rows] = (total / weight).transpose(1, 2) * valid[rows]
    return out
