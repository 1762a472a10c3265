"""Pronunciations in ARPAbet (the CMU dictionary's phone set) for words a dictionary lacks, from espeak-ng's
IPA output: its symbols read longest first into the 39 ARPAbet phones; with `stress=True` vowels carry the
CMU dictionary's stress digit (1 primary, 2 secondary, 0 none) from espeak-ng's stress marks.

Used where a pronouncing aligner meets a word outside its dictionary (`import --format pocketsphinx`) and for
the `phones` tier (text/pronounce.py).
"""
from __future__ import annotations

import shutil
import subprocess

from frametool.errors import UsageError

# espeak-ng's American English IPA -> ARPAbet; two-symbol units are listed and matched before one-symbol ones
IPA_TO_ARPABET = {
    "aɪ": ("AY",), "aʊ": ("AW",), "eɪ": ("EY",), "oʊ": ("OW",), "əʊ": ("OW",), "ɔɪ": ("OY",),
    "tʃ": ("CH",), "dʒ": ("JH",), "ɜː": ("ER",), "ɚ": ("ER",), "ɝ": ("ER",), "ɑː": ("AA",), "ɔː": ("AO",),
    "oː": ("AO",), "iː": ("IY",), "uː": ("UW",), "l̩": ("AH", "L"), "n̩": ("AH", "N"), "m̩": ("AH", "M"),
    "ɑ": ("AA",), "ɒ": ("AA",), "æ": ("AE",), "a": ("AE",), "ʌ": ("AH",), "ə": ("AH",), "ɐ": ("AH",),
    "ɔ": ("AO",), "o": ("OW",), "ɛ": ("EH",), "e": ("EH",), "ɪ": ("IH",), "ᵻ": ("IH",), "i": ("IY",),
    "ʊ": ("UH",), "u": ("UW",), "b": ("B",), "d": ("D",), "ð": ("DH",), "f": ("F",), "ɡ": ("G",),
    "g": ("G",), "h": ("HH",), "j": ("Y",), "k": ("K",), "l": ("L",), "ɫ": ("L",), "m": ("M",), "n": ("N",),
    "ŋ": ("NG",), "p": ("P",), "ɹ": ("R",), "r": ("R",), "s": ("S",), "ʃ": ("SH",), "t": ("T",),
    "θ": ("TH",), "v": ("V",), "w": ("W",), "z": ("Z",), "ʒ": ("ZH",), "ɾ": ("T",), "ʔ": ("T",),
    "x": ("K",), "ç": ("HH",),
}
VOWELS = frozenset({"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"})
_STRESS_MARKS = {"ˈ": "1", "ˌ": "2"}


def ipa_to_arpabet(ipa: str, stress: bool = False) -> list[str]:
    """One word's IPA -> ARPAbet phones; unknown symbols are skipped. Stress and length marks are dropped,
    unless `stress`: then each vowel gets the digit of the stress mark before its syllable (0 without one)."""
    phones: list[str] = []
    pending = "0"
    i = 0
    while i < len(ipa):
        if ipa[i] in _STRESS_MARKS:
            pending = _STRESS_MARKS[ipa[i]]
        for width in (2, 1):
            unit = ipa[i:i + width]
            if len(unit) == width and unit in IPA_TO_ARPABET:
                for phone in IPA_TO_ARPABET[unit]:
                    if stress and phone in VOWELS:
                        phone, pending = phone + pending, "0"
                    phones.append(phone)
                i += width
                break
        else:
            i += 1  # a mark (stress, length, joiner) or a symbol with no ARPAbet counterpart
    return phones


def espeak_arpabet(words: list[str], voice: str = "en-us", stress: bool = False) -> dict[str, list[str]]:
    """ARPAbet phones of each word, as espeak-ng pronounces it (one espeak-ng call for all of them)."""
    if not words:
        return {}
    if shutil.which("espeak-ng") is None:
        raise UsageError("pronouncing words outside the dictionary needs espeak-ng (apt-get install espeak-ng)")
    unique = sorted(set(words))
    out = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", voice], input="\n".join(unique) + "\n",
                         capture_output=True, text=True, check=True).stdout.splitlines()
    lines = [line.strip() for line in out if line.strip()]
    if len(lines) != len(unique):  # espeak-ng merged or split lines: ask word by word
        lines = [subprocess.run(["espeak-ng", "-q", "--ipa", "-v", voice, w], capture_output=True, text=True,
                                check=True).stdout.strip() for w in unique]
    return {w: phones for w, line in zip(unique, lines)
            if (phones := ipa_to_arpabet(line.replace(" ", ""), stress))}
