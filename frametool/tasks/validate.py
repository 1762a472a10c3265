"""`frametool validate`: a preflight over a corpus before aligning it.

Per file: transcript missing / empty / not UTF-8 / with words the model cannot read; audio unreadable,
empty or with NaN samples; sample rate, channels and duration; speaking rate (words per second) outside
the plausible range. Nothing is aligned and no model is loaded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf

from frametool.config import DEFAULT_MODEL, MIN_DURATION_S, AlignConfig
from frametool.errors import InputError
from frametool.tasks.corpus import CorpusItem, discover, read_transcript

MIN_WORDS_PER_S, MAX_WORDS_PER_S = 0.3, 7.0


@dataclass
class FileReport:
    audio: str
    transcript: str
    sample_rate_hz: int | None = None
    channels: int | None = None
    duration_s: float | None = None
    words: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def words_per_s(self) -> float | None:
        if self.words is None or not self.duration_s:
            return None
        return self.words / self.duration_s


def model_limits(model: str = DEFAULT_MODEL) -> tuple[float, int | None]:
    """(longest recording, most words) the model aligns in one call, read from its config.json alone
    (no torch): models with a CTC head (windows) take recordings up to AlignConfig.max_recording_s, others one piece."""
    import json

    for folder in (Path(model), Path(__file__).resolve().parent.parent / "models" / model):
        config = folder / "config.json"
        if config.is_file():
            try:
                raw = json.loads(config.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                break
            if raw.get("backbone_config", {}).get("ctc"):  # a CTC head: long recordings in windows
                return AlignConfig.max_recording_s, None
            return AlignConfig.max_duration_s, int(raw.get("backbone_config", {}).get("max_words", 256))
    return AlignConfig.max_duration_s, 256


def check_item(item: CorpusItem, max_duration_s: float = AlignConfig.max_duration_s,
               max_words: int | None = 256) -> FileReport:
    report = FileReport(str(item.audio), str(item.transcript or ""))
    try:
        report.words = len(read_transcript(item))
        if max_words is not None and report.words > max_words:
            report.problems.append(f"transcript has {report.words} words; the model reads at most {max_words} "
                                   "at a time: split the recording")
    except InputError as exc:
        report.problems.append(exc.problem)
    try:
        info = sf.info(str(item.audio))
        report.sample_rate_hz, report.channels = info.samplerate, info.channels
        report.duration_s = info.frames / info.samplerate if info.samplerate else 0.0
        if info.frames == 0:
            report.problems.append("audio is 0.0 s long (no samples)")
        elif report.duration_s < MIN_DURATION_S:
            report.problems.append(f"audio is {report.duration_s:.3f} s long (at least {MIN_DURATION_S} s is needed)")
        elif report.duration_s > max_duration_s:
            report.problems.append(f"audio is {report.duration_s:.1f} s long (over {max_duration_s:.0f} s: split it)")
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        report.problems.append(f"audio cannot be decoded ({str(exc).strip() or type(exc).__name__})")
    rate = report.words_per_s
    if rate is not None:
        if rate > MAX_WORDS_PER_S and report.words > 2:
            report.problems.append(f"{rate:.1f} words per second is faster than people speak "
                                   f"(over {MAX_WORDS_PER_S:g}): wrong transcript?")
        elif rate < MIN_WORDS_PER_S and report.duration_s > 5.0:
            report.problems.append(f"{rate:.2f} words per second is very slow (under {MIN_WORDS_PER_S:g}): "
                                   "missing words or long silences?")
    return report


def validate_corpus(corpus: str, transcripts: Path | None = None, model: str = DEFAULT_MODEL) -> list[FileReport]:
    max_duration_s, max_words = model_limits(model)
    return [check_item(item, max_duration_s, max_words) for item in discover(corpus, transcripts)]


def render_tsv(reports: list[FileReport]) -> str:
    lines = ["audio\ttranscript\tsample_rate_hz\tchannels\tduration_s\twords\twords_per_s\tproblems"]
    for r in reports:
        rate = r.words_per_s
        lines.append("\t".join([r.audio, r.transcript, str(r.sample_rate_hz or ""), str(r.channels or ""),
                                f"{r.duration_s:.3f}" if r.duration_s is not None else "",
                                str(r.words if r.words is not None else ""),
                                f"{rate:.2f}" if rate is not None else "",
                                "; ".join(p.replace("\t", " ").replace("\n", " ") for p in r.problems)]))
    return "\n".join(lines) + "\n"
