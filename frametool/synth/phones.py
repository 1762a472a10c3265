"""Engines' own phone names -> ARPAbet, for exact phone times in synthetic corpora.

Each engine reports the phones it synthesised with their sample times (espeak-ng's phoneme events,
Festival's Segment relation, flite's segment listing). A phone that is one ARPAbet phone here is mapped;
one that stands for two ("o@" = AO R in espeak-ng, "i@" in British phone sets) or has no counterpart makes
its whole word unmapped (None): its time would have to be split by a guess, so the word gets no phones.
The mapped sequence is then matched to the word's dictionary pronunciation (text/pronounce.match_variant).
"""
from __future__ import annotations

from frametool.text.pronounce import match_variant

# espeak-ng's English phoneme mnemonics (as its phoneme events name them)
ESPEAK = {
    "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "g": "G", "f": "F", "v": "V", "T": "TH", "D": "DH",
    "s": "S", "z": "Z", "S": "SH", "Z": "ZH", "h": "HH", "m": "M", "n": "N", "N": "NG", "l": "L", "r": "R",
    "w": "W", "j": "Y", "tS": "CH", "dZ": "JH", "t#": "T", "d#": "D", "?": "T", "r-": "R", "l/": "L",
    "a": "AE", "aa": "AE", "a#": "AH", "A:": "AA", "0": "AA", "O:": "AO", "O": "AO", "V": "AH", "E": "EH",
    "eI": "EY", "I": "IH", "I2": "IH", "I#": "IH", "i": "IY", "i:": "IY", "@": "AH", "@2": "AH", "@5": "AH",
    "3:": "ER", "3": "ER", "U": "UH", "u:": "UW", "aI": "AY", "aU": "AW", "OI": "OY", "oU": "OW", "@U": "OW",
    "e": "EH", "o": "OW", "u": "UW",
}
# Festival's and flite's US English phone set (radio / cmu): ARPAbet in lower case, plus a few more
RADIO = {p.lower(): p for p in (
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH", "IY",
    "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V", "W", "Y",
    "Z", "ZH")}
RADIO.update({"ax": "AH", "axr": "ER", "dx": "T", "nx": "N", "h": "HH"})
# Festival's British English phone set (mrpa), used by its British diphone and MBROLA voices
MRPA = {
    "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "g": "G", "f": "F", "v": "V", "th": "TH", "dh": "DH",
    "s": "S", "z": "Z", "sh": "SH", "zh": "ZH", "h": "HH", "m": "M", "n": "N", "ng": "NG", "l": "L",
    "r": "R", "w": "W", "y": "Y", "ch": "CH", "jh": "JH", "@": "AH", "a": "AE", "uh": "AH", "o": "AA",
    "oo": "AO", "aa": "AA", "ii": "IY", "i": "IH", "e": "EH", "u": "UH", "uu": "UW", "@@": "ER",
    "ei": "EY", "ai": "AY", "oi": "OY", "ou": "OW", "au": "AW",
}
TABLES = {"espeak-ng": ESPEAK, "radio": RADIO, "mrpa": MRPA}

PhoneSpan = tuple[str, float, float]  # (ARPAbet label, start_s, end_s)


def to_arpabet(names: list[str], table: dict[str, str]) -> list[str] | None:
    """An engine's phone names of one word -> ARPAbet (no stress), or None if one has no single phone."""
    out = [table.get(n) for n in names]
    return None if not out or any(p is None for p in out) else out


def label_word(word: str, engine_phones: list[PhoneSpan] | None, table: dict[str, str],
               guessed: tuple[str, ...] | None = None) -> list[PhoneSpan] | None:
    """One spoken word's engine phones [(name, start_s, end_s)] -> the same spans labelled with the word's
    dictionary pronunciation (stress digits included) where the engine said it, else None."""
    if not engine_phones:
        return None
    heard = to_arpabet([n for n, _, _ in engine_phones], table)
    if heard is None:
        return None
    chosen = match_variant(heard, word, guessed)
    if chosen is None:
        return None
    return [(label, a, b) for label, (_, a, b) in zip(chosen, engine_phones)]
