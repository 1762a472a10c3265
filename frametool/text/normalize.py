"""Transcript tokens -> the spoken words the model reads.

The output tier keeps the user's tokens; the model reads their spoken form. A token such as
"1984" becomes ["nineteen", "eighty", "four"], "£13.60" becomes ["thirteen", "pounds", "sixty", "pence"].
Every spoken piece of a token carries that token's index, so the token's interval runs from the onset of
its first piece to the offset of its last.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from num2words import num2words

_EDGE_PUNCT = "\"'`“”‘’«»()[]{}<>,;:!?¡¿…—–-_*#~/\\|"
_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
             "€": ("euro", "euros", "cent", "cents")}
_SYMBOLS = {"&": "and", "%": "percent", "+": "plus", "=": "equals", "@": "at"}
_ORDINAL = re.compile(r"^(\d+)(st|nd|rd|th)$")
_NUMBER = re.compile(r"^[0-9]+(?:[.,][0-9]+)*$")
_LETTERS = re.compile(r"[a-z']+")


@dataclass(frozen=True)
class Token:
    """One transcript token: `text` as the user wrote it (edge punctuation removed), `spoken` its words."""

    text: str
    spoken: tuple[str, ...]
    pause_after: bool  # the user's token ended a clause (",", ".", ...)


class UnreadableWord(ValueError):
    """A transcript word has letters or digits but none the model can read (another script, say)."""

    def __init__(self, word: str) -> None:
        self.word = word
        super().__init__(f"word {word!r} has no letters the model can read (only a-z after accents "
                         "are removed, digits and common symbols)")


def clean_text(text: str) -> str:
    """Strip a BOM, normalise Unicode (NFC) and turn control characters and CR/LF into spaces."""
    text = text.replace("\ufeff", "")
    text = unicodedata.normalize("NFC", text)
    return "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in text)


def _strip_edges(token: str) -> str:
    core = token.strip(_EDGE_PUNCT)
    # a final period belongs to the token only in abbreviations such as "U.S." or "e.g."
    return core if core.count(".") >= 2 else core.rstrip(".")


def _number_words(digits: str, *, year_ok: bool) -> list[str]:
    plain = digits.replace(",", "")
    if year_ok and re.fullmatch(r"1[1-9]\d\d|20\d\d", plain) and not plain.endswith("000"):
        words = num2words(int(plain), to="year")
    elif re.fullmatch(r"\d+\.\d+", plain):
        whole, frac = plain.split(".")
        words = num2words(int(whole)) + " point " + " ".join(num2words(int(d)) for d in frac)
    elif plain.isdigit():
        words = num2words(int(plain))
    else:
        words = " ".join(num2words(int(d)) for d in re.findall(r"[0-9]", plain))
    return _words_of(words)


def _words_of(text: str) -> list[str]:
    text = text.lower().replace("’", "'")
    return [w.strip("'") for w in _LETTERS.findall(text) if w.strip("'")]


def spoken_words(token: str) -> list[str]:
    """The words a reader says for `token` (lower-case letters and apostrophes); [] when unspeakable."""
    core = unicodedata.normalize("NFKC", token).replace("’", "'")  # "10²" -> "102", full-width digits
    if not core:
        return []
    low = core.lower()
    if low[0] in _CURRENCY and _NUMBER.match(low[1:].replace(",", "") or "x"):
        one, many, sub_one, sub_many = _CURRENCY[low[0]]
        amount = low[1:].replace(",", "")
        whole, _, frac = amount.partition(".")
        words = _number_words(whole, year_ok=False) + [one if whole == "1" else many]
        if frac and int(frac):
            cents = int(frac.ljust(2, "0")[:2])
            words += _number_words(str(cents), year_ok=False) + [sub_one if cents == 1 else sub_many]
        return words
    if low.endswith("%") and _NUMBER.match(low[:-1] or "x"):
        return _number_words(low[:-1], year_ok=False) + ["percent"]
    match = _ORDINAL.match(low)
    if match:
        return _words_of(num2words(int(match.group(1)), to="ordinal"))
    if _NUMBER.match(low):
        return _number_words(low, year_ok=True)
    words: list[str] = []
    for part in re.split(r"([0-9]+(?:[.,][0-9]+)*|[&%+=@$£€])", low):
        if not part:
            continue
        if part in _SYMBOLS:
            words.append(_SYMBOLS[part])
        elif part in _CURRENCY:
            words.append(_CURRENCY[part][1])
        elif part[0] in "0123456789":
            words += _number_words(part, year_ok=False)
        else:
            ascii_part = unicodedata.normalize("NFKD", part).encode("ascii", "ignore").decode()
            words += _words_of(ascii_part.replace("-", " ").replace(".", " "))
    return words


def tokenize(transcript: str) -> list[Token]:
    """Split a transcript into tokens; tokens with no spoken form (lone punctuation, emoji) are dropped.

    Raises UnreadableWord for a token with letters or digits the model cannot read (e.g. Hebrew), since
    dropping it would silently lose a word from the output.
    """
    tokens: list[Token] = []
    for raw in clean_text(transcript).split():
        text = _strip_edges(raw)
        spoken = spoken_words(text) if text else []
        if not spoken:
            if any(ch.isalnum() for ch in text):
                raise UnreadableWord(text)
            if tokens and raw.strip() and raw[-1] in ",.;:!?":
                tokens[-1] = Token(tokens[-1].text, tokens[-1].spoken, True)
            continue
        tokens.append(Token(text=text, spoken=tuple(spoken), pause_after=raw[-1] in ",.;:!?"))
    return tokens
