"""Output writers: pure functions Annotation -> text, and atomic file writing."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from frametool.writers.tabular import render_csv, render_json, render_rttm
from frametool.writers.textgrid import render as render_textgrid

_UMASK = os.umask(0)
os.umask(_UMASK)

# format name -> (file extension, renderer)
WRITERS = {
    "textgrid": (".TextGrid", render_textgrid),
    "json": (".json", lambda annotation, **_: render_json(annotation)),
    "csv": (".csv", lambda annotation, **_: render_csv(annotation)),
    "tsv": (".tsv", lambda annotation, **_: render_csv(annotation, delimiter="\t")),
    # the file id of a diarization RTTM is the audio file's stem
    "rttm": (".rttm", lambda annotation, **_: render_rttm(annotation, _file_id(annotation.file))),
}


def _file_id(file: str) -> str:
    return Path(file).stem.replace(" ", "_") or "audio"


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
