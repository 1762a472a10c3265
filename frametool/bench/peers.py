"""Peer aligners run side by side with frametool in `bench accuracy --peer`.

pocketsphinx 5 (its bundled US English model) does forced alignment with `set_align_text`; it needs
every word in its dictionary, so utterances with out-of-dictionary words fail (that is reported).
"""
from __future__ import annotations

import os

import numpy as np

from frametool.errors import UsageError


# Decoder settings for the phone-level pass: with pocketsphinx's default best-path search its phone alignment
# fails on about one utterance in five (LibriSpeech clips); without it, it fails on none.
PHONE_PASS_OPTIONS = {"bestpath": False}


class PocketsphinxAligner:
    name = "pocketsphinx"

    def __init__(self, **options) -> None:
        """`options`: pocketsphinx Decoder settings over the defaults (16 kHz, its log at level ERROR written to
        the null device; PHONE_PASS_OPTIONS for phones)."""
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise UsageError("--peer pocketsphinx needs the pocketsphinx package "
                             "(pip install 'frametool[bench]')") from None
        self._decoder = Decoder(**{"samprate": 16000, "loglevel": "ERROR", "logfn": os.devnull, **options})
        self._frame_s = 1.0 / float(self._decoder.config["frate"])

    def lacks(self, word: str) -> bool:
        """Whether `word` is outside pocketsphinx's dictionary."""
        return self._decoder.lookup_word(word) is None

    def add_words(self, pronunciations: dict[str, list[str]]) -> None:
        """Teach the dictionary words it lacks (ARPAbet phones, no stress)."""
        for word, phones in pronunciations.items():
            self._decoder.add_word(word, " ".join(phones), True)

    def _decode(self, pcm: bytes) -> None:
        self._decoder.start_utt()
        self._decoder.process_raw(pcm, full_utt=True)
        self._decoder.end_utt()

    def _word_pass(self, samples: np.ndarray, words: list[str]) -> bytes | None:
        """Force-align `words` (the word-level pass); -> the 16-bit audio it read, or None when it failed."""
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes()
        try:
            self._decoder.set_align_text(" ".join(words))
            self._decode(pcm)
        except RuntimeError:
            return None
        return pcm if self._decoder.hyp() is not None else None

    def align(self, samples: np.ndarray, words: list[str]) -> list[tuple[float, float]] | None:
        """Word (start_s, end_s) for `words` (lower-case), or None when pocketsphinx cannot align."""
        segments = self._decoder.seg() if self._word_pass(samples, words) is not None else None
        if not segments:
            return None
        spans = [(seg.start_frame * self._frame_s, (seg.end_frame + 1) * self._frame_s)
                 for seg in segments if seg.word not in ("<s>", "</s>", "<sil>", "(NULL)")
                 and not seg.word.startswith("[") and seg.word != "sil"]
        return spans if len(spans) == len(words) else None

    def phones(self, samples: np.ndarray, words: list[str]) -> list[list[tuple[str, float, float]]] | None:
        """Per word its phones (ARPAbet without stress, start_s, end_s) from pocketsphinx's phone-level pass
        after the word alignment of `words`, or None when it cannot align them."""
        pcm = self._word_pass(samples, words)
        if pcm is None:
            return None
        try:
            self._decoder.set_alignment()
            self._decode(pcm)
            alignment = self._decoder.get_alignment()
        except RuntimeError:
            return None
        if alignment is None:
            return None
        out = []
        for word in alignment:
            if word.name.startswith(("<", "[")) or word.name in ("sil", "(NULL)"):
                continue
            out.append([(p.name.upper(), p.start * self._frame_s, (p.start + p.duration) * self._frame_s)
                        for p in word])
        return out if len(out) == len(words) else None
