"""`frametool bench diarization CORPUS --reference DIR`: diarization error rate, file by file and overall.

DER comes from pyannote.metrics (`DiarizationErrorRate`): overlapped speech is scored, and the collar is
pyannote's, the total width of the forgiveness zone around every reference boundary (0.5 s = ±0.25 s). Each
file is scored inside its `<stem>.uem` (the whole reference span without one). Reported per system: DER and
its parts (missed speech, false alarm, speaker confusion, as shares of the reference speech), how often
the number of speakers found equals the reference's, and speaker-onset accuracy: the share of reference
speakers whose first onset (the first turn of the i-th speaker, in order of first speech) has the system's
i-th speaker onset within 40 / 100 ms (the paper's LibriCount-style task; the frametool model's onsets come
from its speaker-onset Poisson channel, a peer's from its first turns).

Systems: a frametool diarization model (`--model`), and peers a user could run here:
- `silero-vad`: silero-vad's speech regions (default settings), all given to one speaker.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from frametool.errors import InputError, UsageError

PEERS = ("silero-vad",)
Turn = tuple[float, float, str]  # start_s, end_s, speaker


def read_rttm(path: Path) -> list[Turn]:
    """`SPEAKER <file> <chan> <onset> <duration> <NA> <NA> <speaker> ...` lines -> turns."""
    turns = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts or parts[0] != "SPEAKER":
            continue
        try:
            onset, duration, speaker = float(parts[3]), float(parts[4]), parts[7]
        except (IndexError, ValueError):
            raise InputError(path, f"line {n}: expected SPEAKER <file> <channel> <onset> <duration> <NA> <NA> "
                             f"<speaker>, got {line!r}") from None
        if duration < 0:
            raise InputError(path, f"line {n}: negative duration {duration}")
        turns.append((onset, onset + duration, speaker))
    return turns


def _annotation(turns: list[Turn]):
    from pyannote.core import Annotation, Segment

    out = Annotation()
    for k, (a, b, speaker) in enumerate(turns):
        if b > a:
            out[Segment(a, b), k] = speaker
    return out


@dataclass
class DerTotals:
    """Sums over files of pyannote's DER components (seconds)."""
    parts: dict[str, float] = field(default_factory=dict)
    files: int = 0
    count_exact: int = 0
    speakers: int = 0  # reference speakers (for onset accuracy)
    onsets_40ms: int = 0
    onsets_100ms: int = 0

    def add(self, detail: dict, count_right: bool, onsets: tuple[int, int, int] = (0, 0, 0)) -> None:
        for k, v in detail.items():
            if k != "diarization error rate":
                self.parts[k] = self.parts.get(k, 0.0) + float(v)
        self.files += 1
        self.count_exact += count_right
        self.speakers += onsets[0]
        self.onsets_40ms += onsets[1]
        self.onsets_100ms += onsets[2]

    def share(self, key: str) -> float:
        total = self.parts.get("total", 0.0)
        return self.parts.get(key, 0.0) / total if total else float("nan")

    @property
    def der(self) -> float:
        return self.share("missed detection") + self.share("false alarm") + self.share("confusion")

    def summary(self) -> dict:
        return {"der": round(self.der, 4), "missed": round(self.share("missed detection"), 4),
                "false_alarm": round(self.share("false alarm"), 4), "confusion": round(self.share("confusion"), 4),
                "reference_speech_s": round(self.parts.get("total", 0.0), 3), "files": self.files,
                "speaker_count_exact": round(self.count_exact / self.files, 4) if self.files else None,
                "onsets_within_40ms": round(self.onsets_40ms / self.speakers, 4) if self.speakers else None,
                "onsets_within_100ms": round(self.onsets_100ms / self.speakers, 4) if self.speakers else None}


def score_turns(reference: list[Turn], hypothesis: list[Turn], uem: list[tuple[float, float]] | None,
                collar_s: float = 0.5) -> tuple[dict, bool]:
    """pyannote's DER components for one file, and whether the number of speakers found is the reference's
    (speakers counted inside the scored regions)."""
    try:
        from pyannote.core import Segment, Timeline
        from pyannote.metrics.diarization import DiarizationErrorRate
    except ImportError:
        raise UsageError("bench diarization needs pyannote.metrics (pip install 'frametool[bench]')") from None
    if uem is None:
        end = max([b for _, b, _ in reference + hypothesis] or [0.0])
        uem = [(0.0, end)]
    metric = DiarizationErrorRate(collar=collar_s, skip_overlap=False)
    timeline = Timeline([Segment(a, b) for a, b in uem if b > a])
    detail = metric(_annotation(reference), _annotation(hypothesis), uem=timeline, detailed=True)

    def speakers(turns):
        return {s for a, b, s in turns if any(min(b, y) - max(a, x) > 0 for x, y in uem)}
    return detail, len(speakers(reference)) == len(speakers(hypothesis))


def first_onsets_s(turns: list[Turn]) -> list[float]:
    """Each speaker's first onset, sorted (speakers in order of first speech)."""
    first: dict[str, float] = {}
    for a, b, speaker in sorted(turns):
        if b > a:
            first.setdefault(speaker, a)
    return sorted(first.values())


def onset_hits(reference: list[float], estimate: list[float], tolerance_s: float) -> int:
    """Reference first onsets whose same-rank estimated onset lies within the tolerance (missing = miss)."""
    return sum(abs(r - e) <= tolerance_s for r, e in zip(sorted(reference), sorted(estimate)))


def onset_counts(reference: list[Turn], hypothesis: list[Turn], onsets_s: list[float] | None,
                 uem: list[tuple[float, float]] | None) -> tuple[int, int, int]:
    """(reference speakers, onsets within 40 ms, within 100 ms), first onsets inside the UEM."""
    def inside(t):
        return uem is None or any(x <= t < y for x, y in uem)
    ref = [t for t in first_onsets_s(reference) if inside(t)]
    est = [t for t in (first_onsets_s(hypothesis) if onsets_s is None else onsets_s) if inside(t)]
    return len(ref), onset_hits(ref, est, 0.04), onset_hits(ref, est, 0.1)


class ModelSystem:
    """A frametool diarization model as a bench system; `onsets_s` holds the last file's speaker onsets."""

    def __init__(self, model: str, device: str = "cpu") -> None:
        from frametool.tasks.diarize import load_diarize_model

        self.model = load_diarize_model(model, device)
        self.name = f"frametool:{self.model.config.name}"
        self.onsets_s: list[float] | None = None

    def __call__(self, samples) -> list[Turn]:
        from frametool.tasks.diarize import diarize_samples

        result = diarize_samples(self.model, samples)
        self.onsets_s = result.speaker_onsets_s
        return [(it.start_s, it.end_s, it.label) for it in result.turns]


class SileroOneSpeaker:
    name = "silero-vad"

    def __init__(self) -> None:
        from frametool.bench.vad import SileroSpeech

        self._vad = SileroSpeech()

    def __call__(self, samples) -> list[Turn]:
        return [(e.start_s, e.end_s, "speaker_1") for e in self._vad(samples)]


@dataclass
class DiarizationReport:
    systems: dict[str, DerTotals]
    per_file: dict[str, dict[str, tuple[dict, bool]]]
    wall_s: dict[str, float]
    audio_s: float
    collar_s: float

    def as_dict(self) -> dict:
        return {"collar_s": self.collar_s,
                **{name: {**totals.summary(), "wall_s": round(self.wall_s[name], 3),
                          "real_time_factor": round(self.wall_s[name] / self.audio_s, 5) if self.audio_s else None}
                   for name, totals in self.systems.items()}}

    def table(self) -> str:
        names = list(self.systems)
        lines = [f"Diarization error rate (pyannote.metrics; collar {self.collar_s:g} s total, i.e. "
                 f"±{self.collar_s / 2:g} s; overlapped speech scored; inside each file's UEM).", "",
                 "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        rows = [("DER", "der"), ("missed speech", "missed"), ("false alarm", "false_alarm"),
                ("speaker confusion", "confusion"), ("speaker count exact", "speaker_count_exact"),
                ("speaker onsets within 40 ms", "onsets_within_40ms"),
                ("speaker onsets within 100 ms", "onsets_within_100ms")]

        def cell(value):
            return "n/a" if value is None else f"{100 * value:.1f} %"
        for label, key in rows:
            lines.append(f"| {label} | " + " | ".join(cell(self.systems[n].summary()[key]) for n in names) + " |")
        lines.append("| wall s | " + " | ".join(f"{self.wall_s[n]:.2f}" for n in names) + " |")
        lines.append("| real-time factor | " + " | ".join(f"{self.wall_s[n] / self.audio_s:.4f}" if self.audio_s
                                                         else "n/a" for n in names) + " |")
        lines += ["", "| file | " + " | ".join(f"{n} DER" for n in names) + " |", "|---|" + "---|" * len(names)]
        for file, systems in self.per_file.items():
            lines.append(f"| {file} | " + " | ".join(f"{100 * systems[n][0]['diarization error rate']:.1f} %"
                                                     for n in names) + " |")
        return "\n".join(lines)


def run_diarization_bench(corpus, reference, systems: dict[str, object], collar_s: float = 0.5
                          ) -> DiarizationReport:
    """Score every system (samples -> turns) on every audio file of `corpus` with `<stem>.rttm` in
    `reference`."""
    from frametool.audio.io import load_audio
    from frametool.bench.vad import read_uem
    from frametool.tasks.corpus import discover

    reference = Path(reference)
    if not reference.is_dir():
        raise UsageError(f"--reference {reference} is not a folder")
    if not systems:
        raise UsageError("nothing to score: give --model and/or --peer")
    items = [it for it in discover(str(corpus))
             if (reference / it.relative.parent / (it.audio.stem + ".rttm")).is_file()]
    if not items:
        raise UsageError(f"no audio file of {corpus} has a reference <stem>.rttm in {reference}")
    totals = {name: DerTotals() for name in systems}
    per_file: dict[str, dict[str, tuple[dict, bool]]] = {}
    wall = {name: 0.0 for name in systems}
    audio_s = 0.0
    for it in items:
        base = reference / it.relative.parent / it.audio.stem
        ref = read_rttm(base.with_suffix(".rttm"))
        uem = read_uem(base.with_suffix(".uem")) if base.with_suffix(".uem").is_file() else None
        wave = load_audio(it.audio)
        audio_s += wave.duration_s
        per_file[str(it.relative)] = {}
        for name, run in systems.items():
            started = time.perf_counter()
            hyp = run(wave.samples)
            wall[name] += time.perf_counter() - started
            detail, count_right = score_turns(ref, hyp, uem, collar_s)
            totals[name].add(detail, count_right, onset_counts(ref, hyp, getattr(run, "onsets_s", None), uem))
            per_file[str(it.relative)][name] = (detail, count_right)
    return DiarizationReport(totals, per_file, wall, audio_s, collar_s)


def peer_system(peer: str):
    if peer not in PEERS:
        raise UsageError(f"--peer must be one of {', '.join(PEERS)}, not {peer!r}")
    return SileroOneSpeaker()
