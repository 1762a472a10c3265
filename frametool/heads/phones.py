"""The phone pointer head: one single-event (n = 1) Poisson intensity per phone of every word, over frames.

A phone's query is built from its word's query state (the one the word pointer head reads), its ARPAbet
class and stress, its neighbours in the word and its place in the word; a frame's key from the decoder's
frame state and the audio encoder's state, with a little temporal context (5 frames):

    l[p, k] = (W_q φ_p) · (W_k e_k) / sqrt(H) + a_p r_pk + b_p r_pk²

where r_pk is frame k's place inside phone p's word (0 at its onset, 1 at its offset), so the head can
learn where in a word each phone tends to start. The key is cheap: e_k = GELU(depthwise conv over 5
frames of (A d_k + B a_k)), with d_k the decoder's frame state and a_k the audio encoder's. Trained with the n = 1 IHP loss restricted to the frames
around the word (`phone_nll`); decoded monotonically inside each word's decoded interval
(decoders/phones.py). Shapes in the docstrings.

A fine head (`fine` = 2) scores onsets on a grid `fine` times finer than the backbone's (10 ms under 20 ms
frames): the key's frame mix A d_k + B a_k is interpolated to the fine frames and the log-mel features the
backbone read (10 ms hop) are added through a small convolution, so the key sees where inside a backbone
frame the spectrum changes; the context convolution then runs at the fine rate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from frametool.heads.poisson import LOG_INTENSITY_MAX, LOG_INTENSITY_MIN

# the 39 ARPAbet classes of the CMU dictionary; stress is read apart (none, 0, 1, 2)
PHONES = ("AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH",
          "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V",
          "W", "Y", "Z", "ZH")
_INDEX = {p: i for i, p in enumerate(PHONES)}
EDGE = len(PHONES)  # "no neighbour" (the word's edge)
MAX_POSITION = 15  # places in a word beyond this share one embedding


def encode_phone(label: str) -> tuple[int, int]:
    """"AH0" -> (class index, stress code: 0 none, 1 + digit otherwise); an unknown class is a ValueError."""
    label = label.upper()
    stress = 1 + int(label[-1]) if label[-1:] in ("0", "1", "2") else 0
    base = label[:-1] if stress else label
    if base not in _INDEX:
        raise ValueError(f"{label!r} is not an ARPAbet phone")
    return _INDEX[base], stress


@dataclass
class PhoneBatch:
    """Phones of a batch of utterances, padded to P per utterance (all (B, P) unless said)."""

    ids: torch.Tensor  # class index
    stress: torch.Tensor
    prev: torch.Tensor  # previous phone's class in the word, or EDGE
    next: torch.Tensor
    word: torch.Tensor  # the word (transcript token) index it belongs to
    position: torch.Tensor  # its place in the word, from the start
    remaining: torch.Tensor  # ... and from the end
    word_start_f: torch.Tensor  # its word's onset and offset, in frames (float), for r_pk
    word_end_f: torch.Tensor
    mask: torch.Tensor  # real phones

    def to(self, device) -> "PhoneBatch":
        return PhoneBatch(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))


_CODES = ("ids", "stress", "prev", "next", "word", "position", "remaining")


def phone_codes(words: list[tuple[str, ...] | None]) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """One utterance's per-word phones (None: none) -> (7, P) codes (the PhoneBatch rows ids ... remaining)
    and the (word, place) of every phone row."""
    codes, rows = [], []
    for w, phones in enumerate(words):
        if not phones:
            continue
        encoded = [encode_phone(x) for x in phones]
        for j, (ident, stress) in enumerate(encoded):
            codes.append((ident, stress, encoded[j - 1][0] if j else EDGE,
                          encoded[j + 1][0] if j + 1 < len(encoded) else EDGE, w, min(j, MAX_POSITION),
                          min(len(encoded) - 1 - j, MAX_POSITION)))
            rows.append((w, j))
    return torch.tensor(codes, dtype=torch.long).reshape(-1, len(_CODES)).T, rows


def make_phone_batch(pronunciations: list[list[tuple[str, ...] | None]],
                     word_frames: list, codes: list | None = None) -> tuple[PhoneBatch, list[list[tuple[int, int]]]]:
    """Per utterance, per word its phones (None: none) and its (onset, offset) in frames (W, 2) -> the batch,
    and per utterance the (word, place) of every phone row. `codes`: phone_codes of each utterance, when
    they were computed already."""
    B = len(pronunciations)
    made = codes or [phone_codes(words) for words in pronunciations]
    P = max(1, max(c[0].shape[1] for c in made))
    out = torch.zeros(len(_CODES), B, P, dtype=torch.long)
    start, end = torch.zeros(B, P), torch.ones(B, P)
    mask = torch.zeros(B, P, dtype=torch.bool)
    for b, ((code, _), frames) in enumerate(zip(made, word_frames)):
        n = code.shape[1]
        if not n:
            continue
        out[:, b, :n] = code
        bounds = torch.as_tensor(np.asarray(frames, dtype=np.float32).reshape(-1, 2))[code[4]]  # (n, 2)
        start[b, :n], end[b, :n] = bounds[:, 0], bounds[:, 1]
        mask[b, :n] = True
    return PhoneBatch(*out, word_start_f=start, word_end_f=end, mask=mask), [c[1] for c in made]


class PhoneHead(nn.Module):
    """(word states, frame states, audio states, phones) -> one log-intensity over frames per phone."""

    def __init__(self, hidden: int, context: int = 5, fine: int = 1, n_mels: int = 0) -> None:
        super().__init__()
        if fine > 1 and n_mels < 1:
            raise ValueError("a fine phone head reads log-mel features: give n_mels")
        self.hidden, self.fine = hidden, fine
        self.word_proj = nn.Linear(hidden, hidden)
        self.phone_emb = nn.Embedding(len(PHONES) + 1, hidden)
        self.prev_emb = nn.Embedding(len(PHONES) + 1, hidden)
        self.next_emb = nn.Embedding(len(PHONES) + 1, hidden)
        self.stress_emb = nn.Embedding(4, hidden)
        self.position_emb = nn.Embedding(MAX_POSITION + 1, hidden)
        self.remaining_emb = nn.Embedding(MAX_POSITION + 1, hidden)
        self.mlp = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, 2 * hidden), nn.GELU(),
                                 nn.Linear(2 * hidden, hidden))
        self.query = nn.Linear(hidden, hidden)
        self.frame_in = nn.Linear(hidden, hidden)
        self.audio_in = nn.Linear(hidden, hidden, bias=False)
        self.context = nn.Conv1d(hidden, hidden, context, padding=context // 2, groups=hidden)
        self.key = nn.Linear(hidden, hidden)
        self.place = nn.Linear(hidden, 2)  # a_p, b_p of the within-word place term
        if fine > 1:
            self.mel_in = nn.Sequential(nn.Conv1d(n_mels, hidden, 5, padding=2), nn.GELU(),
                                        nn.Conv1d(hidden, hidden, 3, padding=1))

    def forward(self, words: torch.Tensor, frames: torch.Tensor, audio: torch.Tensor,
                phones: PhoneBatch, mel: torch.Tensor | None = None) -> torch.Tensor:
        """words (B, W, H), frames and audio (B, T, H) -> (B, P, T) log-intensities; a fine head also reads
        mel (B, Tm, M), the backbone's log-mel frames, and gives (B, P, fine * T)."""
        B, T, H = frames.shape
        word_state = torch.gather(words, 1, phones.word[..., None].expand(-1, -1, H))  # (B, P, H)
        x = (self.word_proj(word_state) + self.phone_emb(phones.ids) + self.prev_emb(phones.prev)
             + self.next_emb(phones.next) + self.stress_emb(phones.stress) + self.position_emb(phones.position)
             + self.remaining_emb(phones.remaining))
        x = x + self.mlp(x)  # (B, P, H)
        q = self.query(x)
        mixed = (self.frame_in(frames) + self.audio_in(audio)).transpose(1, 2)  # (B, H, T)
        if self.fine > 1:
            if mel is None:
                raise ValueError("this phone head reads log-mel features: give mel")
            n = self.fine * T
            m = mel.transpose(1, 2).to(mixed.dtype)[..., :n]  # (B, M, <= n)
            m = torch.nn.functional.pad(m, (0, n - m.shape[-1]))
            mixed = torch.nn.functional.interpolate(mixed, size=n, mode="linear", align_corners=False) + self.mel_in(m)
        e = torch.nn.functional.gelu(mixed + self.context(mixed)).transpose(1, 2)
        k = self.key(e)  # (B, T', H), T' = fine * T
        logits = q @ k.transpose(1, 2) / math.sqrt(H)  # (B, P, T')
        # r_pk from the fine frames' centres in backbone frames (the word edges are in backbone frames)
        centres = (torch.arange(k.shape[1], device=frames.device, dtype=frames.dtype) + 0.5) / self.fine
        width = (phones.word_end_f - phones.word_start_f).clamp_min(1.0)[..., None]
        r = ((centres[None, None] - phones.word_start_f[..., None]) / width).clamp(-0.5, 1.5)  # (B, P, T)
        ab = self.place(x)  # (B, P, 2)
        logits = logits + ab[..., :1] * r + ab[..., 1:] * r * r
        return logits.clamp(LOG_INTENSITY_MIN, LOG_INTENSITY_MAX)


def phone_nll(log_intensity: torch.Tensor, allowed: torch.Tensor, targets: torch.Tensor,
              soft: torch.Tensor | None = None) -> torch.Tensor:
    """Conditional n = 1 IHP loss of every phone's onset (softmax cross-entropy over the frames it may
    fall in), averaged over scored phones. log_intensity (B, P, T); allowed (B, P, T) bool; targets (B, P)
    frame index or -1 (not scored). `soft` (B, P, T): target mass over frames instead of all of it on the
    target frame (each scored row sums to 1 on allowed frames): the expected loss under that mass."""
    l = log_intensity.float().masked_fill(~allowed, -math.inf)
    scored = (targets >= 0) & allowed.any(dim=2)
    if soft is None:
        picked = torch.gather(l, 2, targets.clamp_min(0)[..., None])[..., 0]
    else:
        picked = (soft * torch.where(allowed, l, torch.zeros_like(l))).sum(dim=2)
    per_phone = torch.logsumexp(l, dim=2) - picked
    per_phone = torch.where(scored & torch.isfinite(per_phone), per_phone, torch.zeros_like(per_phone))
    weight = scored.to(per_phone.dtype)
    return per_phone.sum() / weight.sum().clamp_min(1.0)
