"""Frozen configurations built by the CLI and consumed by the library."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

OUTPUT_FORMATS = ("textgrid", "json", "csv", "tsv")
DEVICES = ("auto", "cpu", "cuda")
TIERS = ("words", "phones")  # what `align` can write; --tiers picks among them
DEFAULT_MODEL = "whisper-align"  # the bundled model every command uses unless --model says otherwise
MIN_DURATION_S = 0.05  # shortest audio the aligner takes (validate checks the same)


@dataclass(frozen=True)
class AlignConfig:
    corpus: str  # a folder, one audio file, or "-" (paths on stdin)
    out: str  # a folder, or "-" (JSON lines on stdout)
    transcripts: Path | None = None
    format: str = "textgrid"
    model: str = DEFAULT_MODEL
    device: str = "auto"
    batch_size: int = 1  # 1 is fastest on CPU (no padding) and makes outputs independent of batching
    jobs: int = 0  # CPU threads; 0 = torch's default (all cores)
    workers: int = 1  # processes, each aligning whole files with jobs / workers threads (CPU only)
    overwrite: bool = False
    decode: str = "median"
    confidence_tier: bool = False
    # tiers to write, of TIERS; None: the model's own (words and phones where it has a phone head, else words)
    tiers: tuple[str, ...] | None = None
    max_words_per_s: float = 10.0
    max_duration_s: float = 120.0  # longest recording a model without windows aligns in one piece
    max_recording_s: float = 4 * 3600.0  # longest recording a model with a CTC head aligns (split in segments)


EVENT_FORMATS = ("json", "tsv", "csv")


@dataclass(frozen=True)
class EventsConfig:
    corpus: str  # a folder, one audio file, or "-" (paths on stdin)
    out: str  # a folder, or "-" (JSON lines on stdout)
    model: str
    labels: tuple[str, ...] = ()  # () = every label the model knows
    format: str = "json"
    device: str = "auto"
    jobs: int = 0
    overwrite: bool = False
    confidence_tier: bool = False  # (TextGrid only; events write JSON/TSV/CSV)
    max_recording_s: float = 4 * 3600.0


DIARIZE_FORMATS = ("rttm", "json")
DIARIZE_MODEL = "whisper-diarize"  # the bundled diarization model


@dataclass(frozen=True)
class DiarizeConfig:
    corpus: str  # a folder, one audio file, or "-" (paths on stdin)
    out: str  # a folder, or "-" (JSON lines on stdout)
    model: str = DIARIZE_MODEL
    format: str = "rttm"
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    device: str = "auto"
    jobs: int = 0
    overwrite: bool = False
    confidence_tier: bool = False  # (TextGrid only; diarize writes RTTM/JSON)
    max_recording_s: float = 4 * 3600.0
