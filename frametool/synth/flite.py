"""Flite voices (clustergen awb/rms/slt, diphone kal16): speech plus word times from its segment listing.

`flite -psdur` prints every segment with its end time, the durations the waveform was made with. Which
segments belong to which word comes from speaking each word on its own (`flite -ps`): the phrase's
non-pause segments must be those of its words in order (one segment per word may change in context, as the
vowel of "the" before a vowel; their number may not), else the phrase is refused (TimingError), so a word
time is never a guess.
"""
from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import soundfile as sf

from frametool.synth.espeak import EspeakUnavailable, Synthesis, TimingError

PAUSE = "pau"


def available() -> bool:
    return shutil.which("flite") is not None


@functools.lru_cache(maxsize=1)
def installed_voices() -> frozenset[str]:
    """Names of the voices compiled into this machine's flite (empty when flite is missing)."""
    if not available():
        return frozenset()
    try:
        run = subprocess.run(["flite", "-lv"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(run.stdout.split(":", 1)[-1].split())


def _run(args: list[str]) -> str:
    try:
        run = subprocess.run(["flite", *args], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise TimingError("flite timed out") from None
    if run.returncode != 0:
        raise TimingError(f"flite failed: {run.stderr.strip()[-200:]}")
    return run.stdout


@functools.lru_cache(maxsize=65536)
def word_phones(word: str, voice: str) -> tuple[str, ...]:
    """The segments flite speaks for `word` said on its own (pauses left out)."""
    return tuple(p for p in _run(["-voice", voice, "-ps", "-t", word, "none"]).split() if p != PAUSE)


def segments(listing: str) -> list[tuple[str, float]]:
    """`flite -psdur` output ("pau:0.220 hh:0.295 ...") -> [(segment, end_s)]."""
    out = []
    for item in listing.split():
        name, _, end = item.rpartition(":")
        try:
            out.append((name, float(end)))
        except ValueError:
            raise TimingError(f"flite printed an unreadable segment {item!r}") from None
    return out


def word_spans(words: list[str], voice: str, listing: str) -> list[tuple[float, float]]:
    """Each word's (start_s, end_s): from the start of its first segment to the end of its last."""
    return word_segments(words, voice, listing)[0]


def word_segments(words: list[str], voice: str, listing: str
                  ) -> tuple[list[tuple[float, float]], list[list[tuple[str, float, float]]]]:
    """Each word's (start_s, end_s) and its segments [(name, start_s, end_s)] as spoken in the phrase."""
    spoken = [(name, start, end) for (name, end), (_, start) in
              zip(segments(listing), [("", 0.0)] + segments(listing)) if name != PAUSE]
    spans, segments_of, k = [], [], 0
    for word in words:
        phones = word_phones(word, voice)
        got = tuple(name for name, _, _ in spoken[k:k + len(phones)])
        # in context a vowel may change ("the" before a vowel) but the number of segments may not
        if not phones or len(got) != len(phones) or sum(a != b for a, b in zip(got, phones)) > 1:
            raise TimingError(f"flite's segments for {word!r} differ from the word said alone")
        spans.append((spoken[k][1], spoken[k + len(phones) - 1][2]))
        segments_of.append(list(spoken[k:k + len(phones)]))
        k += len(phones)
    if k != len(spoken):
        raise TimingError("flite spoke segments that belong to no word")
    return spans, segments_of


def synthesize_phrases(phrases: list[list[str]], voice: str, stretch: float = 1.0) -> list[Synthesis]:
    """Speak each phrase (a list of lower-case words) with one flite voice; raises TimingError when the
    word times cannot be read exactly."""
    if not available():
        raise EspeakUnavailable("flite is not installed (apt-get install flite)")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, words in enumerate(phrases):
            wav = Path(tmp) / f"p{i}.wav"
            listing = _run(["-voice", voice, "--setf", f"duration_stretch={stretch:.3f}", "-psdur",
                            "-t", " ".join(words), "-o", str(wav)])
            spans, phones = word_segments(words, voice, listing)
            samples, rate = sf.read(wav, dtype="float32")
            results.append(Synthesis(samples, rate, spans, phones))
    return results
