"""espeak-ng through its C library: speech plus exact word onsets and offsets from synthesis events.

A word's onset is the sample of its first phoneme event; its offset is the sample of the next phoneme
event (the next word's first phoneme, or a pause) after its last phoneme. These are the times at which
espeak-ng switches phonemes in the waveform it returns, so they are exact for that waveform.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass

import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_PHONEME_EVENTS = 1
_EV_END_LIST, _EV_WORD, _EV_PHONEME, _EV_MSG_TERMINATED = 0, 1, 7, 6
_RATE, _PITCH, _RANGE = 1, 3, 4
_UTF8 = 1
_POS_CHARACTER = 1


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


class EspeakUnavailable(RuntimeError):
    """libespeak-ng is not installed, or lacks a voice."""


class TimingError(ValueError):
    """espeak-ng's events do not give every word a time (the utterance is skipped)."""


@dataclass(frozen=True)
class Synthesis:
    samples: np.ndarray  # (N,) float32 in [-1, 1]
    sample_rate_hz: int
    word_spans_s: list[tuple[float, float]]  # one (start_s, end_s) per input word
    # per input word, the engine's own phones [(name, start_s, end_s)] (None: the engine gave none)
    phone_spans_s: list[list[tuple[str, float, float]] | None] | None = None


class Espeak:
    """One espeak-ng engine per process (the C library keeps global state)."""

    _instance: "Espeak | None" = None

    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self._lib = ctypes.CDLL(name)
        except OSError as exc:
            raise EspeakUnavailable("libespeak-ng not found: install the espeak-ng package") from exc
        self.sample_rate_hz = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None,
                                                          _PHONEME_EVENTS)
        if self.sample_rate_hz <= 0:
            raise EspeakUnavailable("espeak-ng failed to initialise")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, bytes]] = []
        self._voice = ""
        self._count_cache: dict[tuple[str, str], int] = {}
        self._callback = _CALLBACK(self._on_audio)
        self._lib.espeak_SetSynthCallback(self._callback)

    @classmethod
    def get(cls) -> "Espeak":
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def _on_audio(self, wav, n_samples, events) -> int:
        if n_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (n_samples,)).copy())
        i = 0
        while events[i].type != _EV_END_LIST:
            ev = events[i]
            self._events.append((ev.type, ev.text_position, ev.sample, bytes(ev.id)))
            i += 1
        return 0

    def synthesize(self, words: list[str], separators: list[str], voice: str, rate_wpm: int,
                   pitch: int, pitch_range: int) -> Synthesis:
        """Speak `words` joined by `separators` (", " makes a pause); returns audio and word spans."""
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise EspeakUnavailable(f"espeak-ng has no voice {voice!r}")
        self._voice = voice
        for param, value in ((_RATE, rate_wpm), (_PITCH, pitch), (_RANGE, pitch_range)):
            self._lib.espeak_SetParameter(param, int(value), 0)
        text, starts = "", []
        for word, sep in zip(words, separators):
            starts.append(len(text.encode()))
            text += word + sep
        data = text.encode()
        self._chunks, self._events = [], []
        self._lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _UTF8, None, None)
        self._lib.espeak_Synchronize()
        samples = (np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16))
        spans, phones = self._word_spans(words, starts, len(samples))
        rate = self.sample_rate_hz
        return Synthesis(samples.astype(np.float32) / 32768.0, rate, [(a / rate, b / rate) for a, b in spans],
                         [[(name, a / rate, b / rate) for name, a, b in word] for word in phones])

    def _phoneme_count(self, word: str) -> int:
        """Phonemes espeak-ng says for `word` alone, with the current voice (cached per voice)."""
        key = (self._voice, word)
        if key not in self._count_cache:
            self._chunks, self._events = [], []
            data = word.encode()
            self._lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _UTF8, None, None)
            self._lib.espeak_Synchronize()
            self._count_cache[key] = sum(1 for kind, _, _, ident in self._events
                                         if kind == _EV_PHONEME and not ident.startswith(b"_"))
        return self._count_cache[key]

    def _word_spans(self, words: list[str], starts: list[int], n_samples: int
                    ) -> tuple[list[tuple[int, int]], list[list[tuple[str, int, int]]]]:
        # Phoneme events carry the 1-based text position of their WORD event. espeak-ng joins some
        # word pairs ("that the") into one unit; such a unit is split by each word's phoneme count.
        units: list[tuple[int, list[tuple[int, bool, str]]]] = []  # (text position, [(sample, is_pause, name)])
        for kind, text_pos, sample, ident in self._events:
            if kind == _EV_WORD and text_pos > 0 and (not units or units[-1][0] != text_pos):
                units.append((text_pos, []))
            elif kind == _EV_PHONEME and units:
                units[-1][1].append((sample, ident.startswith(b"_"), ident.rstrip(b"\0").decode("ascii", "replace")))
        flat = [phoneme for _, phonemes in units for phoneme in phonemes]
        flat.append((n_samples, True, "_"))
        boundaries = [pos - 1 for pos, _ in units] + [1 << 30]
        spans: list[tuple[int, int]] = []
        phones: list[list[tuple[str, int, int]]] = []
        index = 0  # position in `flat` of the unit's first phoneme
        events = []
        for u, (pos, phonemes) in enumerate(units):
            members = [j for j, st in enumerate(starts) if boundaries[u] <= st < boundaries[u + 1]]
            events.append((members, index, len(phonemes)))
            index += len(phonemes)
        for members, first, count in events:
            speech = [k for k in range(first, first + count) if not flat[k][1]]
            if not members and not speech:  # the end-of-text marker
                continue
            if not members or not speech:
                raise TimingError("espeak-ng did not report every word")
            sizes = [self._phoneme_count(words[j]) for j in members] if len(members) > 1 \
                else [len(speech)]
            if sum(sizes) != len(speech):
                raise TimingError("cannot split a joined espeak-ng word unit")
            cursor = 0
            for size in sizes:
                part = speech[cursor:cursor + size]
                spans.append((flat[part[0]][0], flat[part[-1] + 1][0]))
                phones.append([(flat[k][2], flat[k][0], flat[k + 1][0]) for k in part])
                cursor += size
        if len(spans) != len(words):
            raise TimingError("espeak-ng did not report every word")
        return spans, phones
