"""Event annotations a user owns -> a training manifest for event models.

Layouts: every audio file with an annotation file of the same stem beside it (or under `annotations`, at
the mirrored path):
- `events-tsv`: `onset<TAB>offset<TAB>label` lines in seconds (`<stem>.tsv`, or `<stem>.txt`); also what an
  Audacity label track exports (`<stem>.txt`; its `\\`-lines of frequency ranges are skipped);
- `raven`: a Raven selection table (`<stem>.Table.1.selections.txt` or `<stem>.selections.txt`, or
  `<stem>.txt`), tab-separated with a header; times from `Begin Time (s)` / `End Time (s)`, the label from
  the `label_column` (default: the first of Annotation, Label, Species, Call Type, Class present);
- `textgrid-events`: a TextGrid (`<stem>.TextGrid`) whose interval tier `tier` holds the labels (empty
  intervals are gaps).
When the corpus folder has a `manifest.jsonl` whose rows name annotated stretches (`annotated_sequences`,
pairs of seconds) for an `id` (the audio file's stem), only those stretches are scored and trained on; without
one the whole file counts as annotated.

Manifest rows: {id, audio (absolute path), duration_s, events: [[onset_s, offset_s, label], ...], regions
(null = whole file), label_origin}.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf

from frametool.audio.io import AUDIO_EXTENSIONS
from frametool.errors import InputError, UsageError

EVENT_LAYOUTS = ("events-tsv", "raven", "textgrid-events")
RAVEN_LABEL_COLUMNS = ("Annotation", "Label", "Species", "Call Type", "Class")


@dataclass
class EventImport:
    rows: list[dict] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)


def _candidates(audio: Path, layout: str) -> list[str]:
    stem = audio.stem
    if layout == "events-tsv":
        return [f"{stem}.tsv", f"{stem}.txt"]
    if layout == "raven":
        return [f"{stem}.Table.1.selections.txt", f"{stem}.selections.txt", f"{stem}.txt"]
    return [f"{stem}.TextGrid", f"{stem}.textgrid"]


def read_tsv_events(path: Path) -> list[tuple[float, float, str]]:
    events = []
    for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip() or line.startswith("\\"):
            continue
        parts = line.rstrip("\r").split("\t")
        if len(parts) < 3 or not parts[2].strip():
            raise InputError(path, f"line {n}: expected onset<TAB>offset<TAB>label, got {line!r}")
        try:
            start, end = float(parts[0]), float(parts[1])
        except ValueError:
            raise InputError(path, f"line {n}: onset and offset must be seconds, got {line!r}") from None
        events.append((start, end, parts[2].strip()))
    return events


def read_raven_events(path: Path, label_column: str | None = None) -> list[tuple[float, float, str]]:
    lines = [line for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    if not lines:
        return []
    header = [h.strip() for h in lines[0].split("\t")]
    for needed in ("Begin Time (s)", "End Time (s)"):
        if needed not in header:
            raise InputError(path, f"not a Raven selection table: no {needed!r} column (columns: {', '.join(header)})")
    column = label_column or next((c for c in RAVEN_LABEL_COLUMNS if c in header), None)
    if column is None or column not in header:
        raise InputError(path, f"no label column {label_column or ' / '.join(RAVEN_LABEL_COLUMNS)!r} "
                         f"(columns: {', '.join(header)})")
    b, e, lab = header.index("Begin Time (s)"), header.index("End Time (s)"), header.index(column)
    view = header.index("View") if "View" in header else None
    events = []
    for n, line in enumerate(lines[1:], 2):
        parts = line.split("\t")
        if view is not None and len(parts) > view and parts[view].startswith("Waveform"):
            continue  # Raven lists each selection once per view; keep the spectrogram row
        try:
            start, end, label = float(parts[b]), float(parts[e]), parts[lab].strip()
        except (ValueError, IndexError):
            raise InputError(path, f"line {n}: cannot read begin/end time and label from {line!r}") from None
        if label:
            events.append((start, end, label))
    return events


def read_textgrid_events(path: Path, tier: str) -> list[tuple[float, float, str]]:
    from praatio import textgrid

    try:
        grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    except Exception as exc:  # praatio raises several types for malformed files
        raise InputError(path, f"TextGrid cannot be read ({exc})") from None
    if tier not in grid.tierNames:
        raise InputError(path, f"no tier {tier!r} (tiers: {', '.join(grid.tierNames)})")
    return [(float(a), float(b), label.strip()) for a, b, label in grid.getTier(tier).entries if label.strip()]


def _annotated_regions(corpus: Path) -> dict[str, list]:
    manifest = corpus / "manifest.jsonl"
    regions: dict[str, list] = {}
    if manifest.is_file():
        for line in manifest.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and "id" in row and row.get("annotated_sequences"):
                regions[str(row["id"])] = [[float(a), float(b)] for a, b in row["annotated_sequences"]]
    return regions


def import_event_corpus(corpus: Path, layout: str, annotations: Path | None = None, tier: str = "events",
                        label_column: str | None = None, label_origin: str = "human") -> EventImport:
    if layout not in EVENT_LAYOUTS:
        raise UsageError(f"unknown event layout {layout!r} ({', '.join(EVENT_LAYOUTS)})")
    report = EventImport()
    regions = _annotated_regions(corpus)
    audio_files = sorted(p for p in corpus.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
    for audio in audio_files:
        folder = (annotations / audio.parent.relative_to(corpus)) if annotations else audio.parent
        found = next((folder / name for name in _candidates(audio, layout) if (folder / name).is_file()), None)
        if found is None:
            report.failures.append((str(audio), f"no annotation file ({' or '.join(_candidates(audio, layout))})"))
            continue
        try:
            info = sf.info(str(audio))
            if layout == "events-tsv":
                events = read_tsv_events(found)
            elif layout == "raven":
                events = read_raven_events(found, label_column)
            else:
                events = read_textgrid_events(found, tier)
        except InputError as exc:
            report.failures.append((str(exc.path), exc.problem))
            continue
        except (RuntimeError, OSError) as exc:
            report.failures.append((str(audio), f"audio cannot be read ({exc})"))
            continue
        duration = info.frames / info.samplerate
        bad = [e for e in events if e[1] < e[0] or e[0] < 0 or e[0] > duration + 0.05]
        if bad:
            report.failures.append((str(found), f"{len(bad)} event(s) outside the audio ({duration:.2f} s) or "
                                    f"ending before they start, e.g. {bad[0]}"))
            continue
        report.rows.append({"id": audio.stem, "audio": str(audio.resolve()), "duration_s": round(duration, 4),
                            "events": [[round(a, 5), round(min(b, duration), 5), lab] for a, b, lab in events],
                            "regions": regions.get(audio.stem), "label_origin": label_origin})
    return report


def write_event_import(report: EventImport, out_dir: Path, dev_files: int = 0, seed: int = 0) -> dict[str, Path]:
    """manifest.jsonl; with `dev_files`, train.jsonl and dev.jsonl (that many recordings drawn with `seed` for
    dev); failures.tsv when files were skipped: `importers.write_import` split by recording."""
    from frametool.training.importers import write_import

    return write_import(report, out_dir, dev_files, seed, group="audio", flag="--dev-files")


def read_event_manifest(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            row["events"] = [(float(a), float(b), str(lab)) for a, b, lab in row["events"]]
            row["regions"] = [(float(a), float(b)) for a, b in row["regions"]] if row.get("regions") else None
            row["audio"] = str((path.parent / row["audio"]).resolve()) if not Path(row["audio"]).is_absolute() \
                else row["audio"]
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"event manifest {path}, line {n}: not an event row ({exc})") from None
        rows.append(row)
    return rows
