"""Transcript tokens -> the spoken words the model reads.

The output tier keeps the user's tokens; the model reads their spoken form. A token such as
"1984" becomes ["nineteen", "eighty", "four"], "£13.60" becomes ["thirteen", "pounds", "sixty", "pence"].
Every spoken piece of a token carries that token's index, so the token's interval runs from the onset of
its first piece to the offset of its last.
Some tokens are read by context: abbreviations ("Dr." -> doctor, but drive after a name; "St." -> saint
before a name, street otherwise), units after a number ("5 km", "9am"), "No. 5" -> number five, Roman numerals after a name
("Henry VIII" -> the eighth, "World War II" -> two), and in mixed-case transcripts initialisms that cannot be
read as a word ("FBI", "BBC") are spelled out; ALL-CAPS transcripts are left to the plain rules.
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
_DECADE = re.compile(r"^'?(\d{1,3}0)'?s$")
_FRACTION = re.compile(r"^(\d+)/(\d+)$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
_NUMBER_UNIT = re.compile(r"^([0-9]+(?:[.,][0-9]+)*)([a-z°][a-z/°]*)$")
_ROMAN = re.compile(r"^X{0,3}(IX|IV|V?I{0,3})$")
_INITIALISM = re.compile(r"^([A-Z]{2,5})('?s)?$")

# abbreviations that are no English word: read in full with or without a final period
_ABBREVIATIONS = {"mr": ("mister",), "mrs": ("missus",), "dr": ("doctor",), "jr": ("junior",),
                  "sr": ("senior",), "etc": ("et", "cetera"), "vs": ("versus",), "mt": ("mount",),
                  "lt": ("lieutenant",), "sgt": ("sergeant",), "capt": ("captain",), "prof": ("professor",),
                  "dept": ("department",), "govt": ("government",), "approx": ("approximately",),
                  "blvd": ("boulevard",), "ltd": ("limited",), "messrs": ("messieurs",)}
# ...and those that are also words ("Gen", "rev", "co"): only written with the period and, since that
# period may end a sentence, only where they stand as titles/labels (before a capitalised word or a number:
# "Rev. King", "Fig. 3") or as name suffixes (after a capitalised word: "Acme Co.")
_TITLE_ABBREVIATIONS = {"ms": ("miz",), "gen": ("general",), "col": ("colonel",), "gov": ("governor",),
                        "rev": ("reverend",), "fig": ("figure",), "vol": ("volume",), "ch": ("chapter",)}
_SUFFIX_ABBREVIATIONS = {"ave": ("avenue",), "inc": ("incorporated",), "co": ("company",)}
# units read after a number: (one, many); "5mm" is millimetres, but "5 mm" is left alone (also a filler)
_UNITS = {"km": ("kilometer", "kilometers"), "cm": ("centimeter", "centimeters"),
          "mm": ("millimeter", "millimeters"), "kg": ("kilogram", "kilograms"), "mg": ("milligram", "milligrams"),
          "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
          "ft": ("foot", "feet"), "mph": ("mile per hour", "miles per hour"),
          "kph": ("kilometer per hour", "kilometers per hour"), "km/h": ("kilometer per hour", "kilometers per hour"),
          "hr": ("hour", "hours"), "hrs": ("hour", "hours"), "min": ("minute", "minutes"),
          "mins": ("minute", "minutes"), "sec": ("second", "seconds"), "secs": ("second", "seconds"),
          "ms": ("millisecond", "milliseconds"), "ml": ("milliliter", "milliliters"),
          "kb": ("kilobyte", "kilobytes"), "mb": ("megabyte", "megabytes"), "gb": ("gigabyte", "gigabytes"),
          "tb": ("terabyte", "terabytes"), "hz": ("hertz", "hertz"), "khz": ("kilohertz", "kilohertz"),
          "mhz": ("megahertz", "megahertz"), "ghz": ("gigahertz", "gigahertz"), "kw": ("kilowatt", "kilowatts"),
          "°": ("degree", "degrees"), "°c": ("degree celsius", "degrees celsius"),
          "°f": ("degree fahrenheit", "degrees fahrenheit"), "am": ("a m", "a m"), "pm": ("p m", "p m")}
# after these a Roman numeral is a plain number ("World War II"); after other names an ordinal ("Henry VIII")
_CARDINAL_BEFORE_ROMAN = {"war", "part", "chapter", "volume", "vol", "act", "book", "phase", "type", "class",
                          "level", "section", "article", "appendix", "series", "mark", "mk", "stage", "round",
                          "apollo", "super", "bowl", "rocky"}
_NOT_NAMES = {"the", "a", "an", "and", "or", "of", "in", "on", "at", "to", "for", "by", "with", "i", "it", "he",
              "she", "we", "they", "you", "this", "that", "but", "so", "if", "as", "is", "was"}
_ONSETS = {"bl", "br", "ch", "cl", "cr", "dr", "dw", "fl", "fr", "gl", "gr", "gw", "kl", "kn", "kr", "kw", "ph",
           "pl", "pr", "ps", "qu", "sc", "sh", "sk", "sl", "sm", "sn", "sp", "sq", "st", "sw", "th", "tr",
           "tw", "wh", "wr"}
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10}
_SMALL_DENOMINATORS = {2: ("half", "halves"), 4: ("quarter", "quarters")}


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
    special = _decade(low) or _fraction(low) or _clock(low)
    if special:
        return special
    match = _NUMBER_UNIT.match(low)
    if match and match.group(2) in _UNITS and (match.group(2) not in ("am", "pm") or _is_hour(match.group(1))):
        return _number_words(match.group(1), year_ok=False) + _unit_words(match.group(2), match.group(1))
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


def _plural(word: str) -> str:
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


def _decade(low: str) -> list[str]:
    """ "1990s" -> nineteen nineties, "'60s" -> sixties, "1800s" -> eighteen hundreds."""
    match = _DECADE.match(low)
    if not match:
        return []
    digits = match.group(1)
    words = _number_words(digits, year_ok=len(digits) == 4)
    return words[:-1] + [_plural(words[-1])]


def _fraction(low: str) -> list[str]:
    """ "1/2" -> one half, "3/4" -> three quarters, "2/3" -> two thirds (denominators 2-10, proper
    fractions); other "a/b" are left to the digit rules ("24/7" -> twenty four seven)."""
    match = _FRACTION.match(low)
    if not match:
        return []
    top, bottom = int(match.group(1)), int(match.group(2))
    if not (2 <= bottom <= 10 and 0 < top < bottom):
        return []
    one, many = _SMALL_DENOMINATORS.get(bottom, (None, None))
    if one is None:
        one = _words_of(num2words(bottom, to="ordinal"))[-1]
        many = _plural(one)
    return _number_words(str(top), year_ok=False) + [one if top == 1 else many]


def _clock(low: str) -> list[str]:
    """ "9:30" -> nine thirty, "9:05" -> nine oh five, "9:00" -> nine."""
    match = _CLOCK.match(low)
    if not match or int(match.group(2)) > 59:
        return []
    hour, minute = match.group(1), int(match.group(2))
    words = _number_words(hour, year_ok=False)
    if minute == 0:
        return words
    return words + (["oh"] if minute < 10 else []) + _number_words(str(minute), year_ok=False)


def _is_hour(text: str) -> bool:
    """A whole number 1-12: what "am"/"pm" may follow."""
    return text.isdigit() and 1 <= int(text) <= 12


def _unit_words(unit: str, number: str) -> list[str]:
    one, many = _UNITS[unit]
    return (one if number == "1" else many).split()


def _roman_value(numeral: str) -> int:
    values = [_ROMAN_VALUES[ch] for ch in numeral]
    return sum(-v if k + 1 < len(values) and v < values[k + 1] else v for k, v in enumerate(values))


def _spelled(letters: str) -> bool:
    """An upper-case token that cannot be read as a word: no vowel ("BBC"), or two consonants that start
    no English word ("FBI", "DNA")."""
    low = letters.lower()
    if not any(ch in "aeiou" for ch in low):
        return True
    return low[0] not in "aeiou" and low[1] not in "aeiouy" and low[:2] not in _ONSETS


def _in_context(text: str, raw: str, prev: str, nxt: str, mixed_case: bool) -> list[str] | None:
    """The spoken form of `text` where its neighbours or its spelling decide it; None: the plain rules.
    `raw` is the token as written (with its final period), prev/nxt the neighbouring tokens' text."""
    low = text.lower()
    period = raw.strip(_EDGE_PUNCT).endswith(".")
    if low in ("am", "pm"):
        if _CLOCK.match(prev) or _is_hour(prev):
            return _unit_words(low, prev)
    elif low in _UNITS and low != "mm" and _NUMBER.match(prev):
        return _unit_words(low, prev)
    if low == "no" and period and _NUMBER.match(nxt):
        return ["number"]
    if low == "st":
        return ["saint"] if nxt[:1].isupper() else ["street"]
    if low == "dr" and prev[:1].isupper() and not nxt[:1].isupper():  # "Mulholland Dr." but "Dr. Jones"
        return ["drive"]
    if low in _ABBREVIATIONS:
        return list(_ABBREVIATIONS[low])
    if period and low in _TITLE_ABBREVIATIONS and (nxt[:1].isupper() or nxt[:1].isdigit()):
        return list(_TITLE_ABBREVIATIONS[low])
    if period and low in _SUFFIX_ABBREVIATIONS and prev[:1].isupper():
        return list(_SUFFIX_ABBREVIATIONS[low])
    if not mixed_case:
        return None
    if (len(text) >= 2 and _ROMAN.match(text) and prev[:1].isupper() and prev.isalpha()
            and prev.lower() not in _NOT_NAMES):
        value = _roman_value(text)
        if prev.lower() in _CARDINAL_BEFORE_ROMAN:
            return _number_words(str(value), year_ok=False)
        return ["the"] + _words_of(num2words(value, to="ordinal"))
    match = _INITIALISM.match(text)
    if match and _spelled(match.group(1)):
        letters = list(match.group(1).lower())
        if match.group(2):
            letters[-1] += match.group(2)  # "FBI's", "DVDs"
        return letters
    return None


def tokenize(transcript: str) -> list[Token]:
    """Split a transcript into tokens; tokens with no spoken form (lone punctuation, emoji) are dropped.

    Raises UnreadableWord for a token with letters or digits the model cannot read (e.g. Hebrew), since
    dropping it would silently lose a word from the output.
    """
    tokens: list[Token] = []
    cleaned = clean_text(transcript)
    mixed_case = any(ch.islower() for ch in cleaned)
    raws = cleaned.split()
    texts = [_strip_edges(raw) for raw in raws]
    for k, raw in enumerate(raws):
        text = texts[k]
        spoken = None
        if text:
            spoken = _in_context(unicodedata.normalize("NFKC", text), raw, texts[k - 1] if k else "",
                                 texts[k + 1] if k + 1 < len(texts) else "", mixed_case)
        if spoken is None:
            spoken = spoken_words(text) if text else []
        if not spoken:
            if any(ch.isalnum() for ch in text):
                raise UnreadableWord(text)
            if tokens and raw.strip() and raw[-1] in ",.;:!?":
                tokens[-1] = Token(tokens[-1].text, tokens[-1].spoken, True)
            continue
        tokens.append(Token(text=text, spoken=tuple(spoken), pause_after=raw[-1] in ",.;:!?"))
    return tokens
