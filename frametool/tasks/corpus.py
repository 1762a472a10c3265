"""Find (audio, transcript) pairs: MFA layouts (speaker folders or flat; .lab or .txt), one audio file,
or a list of paths on stdin; transcripts may live in a mirrored folder of their own."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from frametool.audio.io import AUDIO_EXTENSIONS
from frametool.errors import InputError, UsageError
from frametool.text.normalize import Token, UnreadableWord, tokenize

TRANSCRIPT_EXTENSIONS = (".lab", ".txt")


@dataclass(frozen=True)
class CorpusItem:
    audio: Path
    relative: Path  # output path stem relative to the output folder (no extension)
    transcript: Path | None


def _transcript_for(audio: Path, relative: Path, transcripts: Path | None) -> Path | None:
    folders = [transcripts / relative.parent] if transcripts else []
    folders.append(audio.parent)
    for folder in folders:
        for ext in TRANSCRIPT_EXTENSIONS:
            candidate = folder / (audio.stem + ext)
            if candidate.exists():
                return candidate
    return None


def discover(corpus: str, transcripts: Path | None = None, stdin=None) -> list[CorpusItem]:
    """All audio files of the corpus, sorted, each with its transcript path (None when missing)."""
    if transcripts is not None and not transcripts.is_dir():
        raise UsageError(f"transcripts folder {transcripts} does not exist")
    if corpus == "-":
        lines = [line.strip() for line in (stdin or sys.stdin).read().splitlines() if line.strip()]
        if not lines:
            raise UsageError("no audio paths on standard input")
        paths = [Path(line) for line in lines]
        common = Path(os.path.commonpath([str(p.absolute().parent) for p in paths]))
        return _check_unique([CorpusItem(p, p.absolute().relative_to(common).with_suffix(""),
                                         _transcript_for(p, p.absolute().relative_to(common), transcripts))
                              for p in paths])
    root = Path(corpus)
    if root.is_file():
        return [CorpusItem(root, Path(root.stem), _transcript_for(root, Path(root.name), transcripts))]
    if not root.is_dir():
        raise UsageError(f"corpus {corpus} does not exist")
    items = []
    for folder, _dirs, files in os.walk(root, followlinks=True):
        for name in files:
            path = Path(folder) / name
            if path.suffix.lower() in AUDIO_EXTENSIONS:
                relative = path.relative_to(root)
                items.append(CorpusItem(path, relative.with_suffix(""), _transcript_for(path, relative, transcripts)))
    if not items:
        raise UsageError(f"corpus {corpus} holds no audio files ({', '.join(AUDIO_EXTENSIONS)})")
    return _check_unique(sorted(items, key=lambda item: str(item.relative)))


def _check_unique(items: list[CorpusItem]) -> list[CorpusItem]:
    """Two audio files that would write one output (utt.wav and utt.flac) are a usage error."""
    seen: dict[Path, Path] = {}
    for item in items:
        if item.relative in seen:
            raise UsageError(f"{seen[item.relative]} and {item.audio} would write the same output "
                             f"({item.relative}); rename one of them")
        seen[item.relative] = item.audio
    return items


def read_transcript(item: CorpusItem) -> list[Token]:
    """The transcript's tokens; InputError when it is missing, unreadable, not UTF-8 or empty."""
    if item.transcript is None:
        raise InputError(item.audio, "no transcript (.lab or .txt with the same name)", "transcript")
    try:
        raw = item.transcript.read_bytes()
    except OSError as exc:
        raise InputError(item.transcript, f"transcript cannot be read ({exc.strerror})", "transcript") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(item.transcript, f"transcript is not UTF-8 (byte {exc.start})", "transcript") from None
    if not text.strip():
        raise InputError(item.transcript, "transcript is empty", "transcript")
    try:
        tokens = tokenize(text)
    except UnreadableWord as exc:
        raise InputError(item.transcript, f"transcript {exc}", "transcript") from None
    except ValueError as exc:
        raise InputError(item.transcript, f"transcript cannot be read as words ({exc})", "transcript") from None
    if not tokens:
        raise InputError(item.transcript, "transcript has no speakable words", "transcript")
    return tokens
