"""Festival through its Scheme batch mode: speech plus word times from the utterance structure.

A word's onset is the start of its first segment and its offset the end of its last segment (the
`SylStructure` relation), which are the durations Festival synthesised the waveform with; every segment
(phone) of a word comes with its own start and end the same way. All phrases of one utterance are spoken by
one Festival process.
"""
from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import soundfile as sf

from frametool.synth.espeak import EspeakUnavailable, Synthesis, TimingError

_SCRIPT = """(voice_{voice})
(Parameter.set 'Duration_Stretch {stretch})
(set! fd (fopen "{listing}" "w"))
(define (say_phrase text wav)
  (let ((utt (eval (list 'Utterance 'Text text))))
    (utt.synth utt)
    (utt.save.wave utt wav 'riff)
    (format fd "U %s\\n" wav)
    (mapcar (lambda (w) (format fd "W %s %f %f\\n" (item.name w)
      (item.feat w "R:SylStructure.daughter1.daughter1.R:Segment.segment_start")
      (item.feat w "R:SylStructure.daughtern.daughtern.R:Segment.end"))
      (mapcar (lambda (syl) (mapcar (lambda (seg) (format fd "S %s %f %f\n" (item.name seg)
        (item.feat seg "R:Segment.segment_start") (item.feat seg "R:Segment.end")))
        (item.daughters syl))) (item.daughters (item.relation w 'SylStructure)))) (utt.relation.items utt 'Word))
    t))
{calls}
(fclose fd)
"""


def available() -> bool:
    return shutil.which("festival") is not None


@functools.lru_cache(maxsize=1)
def installed_voices() -> frozenset[str]:
    """Names of the voices this machine's Festival can load (empty when Festival is missing)."""
    if not available():
        return frozenset()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "voices.scm"
        script.write_text("(print (mapcar car voice-locations))\n")
        try:
            run = subprocess.run(["festival", "--batch", str(script)], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return frozenset()
    return frozenset(run.stdout.replace("(", " ").replace(")", " ").split())


def synthesize_phrases(phrases: list[list[str]], voice: str, stretch: float = 1.0) -> list[Synthesis]:
    """Speak each phrase (a list of lower-case words); raises TimingError when words do not match."""
    if not available():
        raise EspeakUnavailable("festival is not installed (apt-get install festival festvox-kallpc16k)")
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "words.txt"
        calls = "\n".join(f'(say_phrase "{" ".join(words)}" "{tmp}/p{i}.wav")' for i, words in enumerate(phrases))
        script = Path(tmp) / "run.scm"
        script.write_text(_SCRIPT.format(voice=voice, stretch=f"{stretch:.3f}", listing=listing, calls=calls))
        run = subprocess.run(["festival", "--batch", str(script)], capture_output=True, text=True, timeout=120)
        if run.returncode != 0 or not listing.exists():
            raise TimingError(f"festival failed: {run.stderr.strip()[-200:]}")
        spans: list[list[tuple[str, float, float]]] = []
        segments: list[list[list[tuple[str, float, float]]]] = []  # per phrase, per word
        for line in listing.read_text().splitlines():
            parts = line.split()
            if parts[0] == "U":
                spans.append([])
                segments.append([])
            elif parts[0] == "W" and spans:
                spans[-1].append((parts[1].lower(), float(parts[2]), float(parts[3])))
                segments[-1].append([])
            elif parts[0] == "S" and segments and segments[-1]:
                segments[-1][-1].append((parts[1], float(parts[2]), float(parts[3])))
        results = []
        for i, words in enumerate(phrases):
            if i >= len(spans) or [w for w, _, _ in spans[i]] != words:
                raise TimingError("festival's words differ from the phrase")
            samples, rate = sf.read(f"{tmp}/p{i}.wav", dtype="float32")
            results.append(Synthesis(samples, rate, [(a, b) for _, a, b in spans[i]], segments[i]))
        return results
