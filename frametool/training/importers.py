"""Training manifests from word-aligned corpora a user owns, so `frametool train` can learn real voices.

Three layouts are read:

- `textgrid`: an MFA-style corpus, one TextGrid per audio file (next to it, or under `alignments`
  mirroring the corpus tree) with the words in an interval tier (`words` by default; Montreal Forced
  Aligner writes `words`/`phones`, or `SPEAKER - words` for several speakers: those are read too).
- `librispeech`: LibriSpeech-style books, `SPEAKER/BOOK/SPEAKER-BOOK.alignment.txt` next to the FLAC
  files, one line per utterance: `ID ",W1,,W2," "E1,E2,E3,E4"`: words with their END times, where an
  empty word is a silence and each word starts where the one before it ends.
- `pocketsphinx`: a corpus with transcripts only (the `align` layout: audio + `.lab`/`.txt`), whose word times
  are made here by pocketsphinx's forced alignment (silver labels: real voices, another aligner's
  boundaries; `pip install 'frametool[bench]'`). Words outside its dictionary are pronounced by espeak-ng
  (IPA read as ARPAbet) where espeak-ng is installed; files it still cannot align are reported and skipped. Speakers are taken from LibriSpeech-style names
  (`SPEAKER-BOOK-UTT`), else from the first folder.

Labels that are not words (empty, `sil`, `sp`, `<eps>`, and anything in brackets such as `<unk>`,
`[noise]` or `{LG}`) are left out of the transcript: the audio keeps those sounds, as real recordings do.
A file that cannot be used is reported with the reason and skipped; the rest are written.

The manifest rows are what `frametool synth` writes (audio path relative to the manifest, transcript,
speaker, duration, and every word's start and end), so synthetic and real corpora mix in one recipe.
"""
from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf

from frametool.errors import UsageError
from frametool.tasks.corpus import discover
from frametool.text.normalize import UnreadableWord, tokenize

NON_WORDS = {"", "sil", "sp", "spn", "<eps>", "#", "_"}
TOLERANCE_S = 0.02  # word times may overhang the audio's end by this much (aligners' frame rounding)


@dataclass
class ImportReport:
    rows: list[dict] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    dropped_labels: int = 0  # non-word intervals left out of transcripts
    phone_words: int = 0  # words given timed phones (pocketsphinx import with phones)


def is_word(label: str) -> bool:
    text = label.strip()
    return text.lower() not in NON_WORDS and not (text[:1] in "<[{(" and text[-1:] in ">]})")


def _row(audio: Path, out_dir: Path, words: list[tuple[str, float, float]], speaker: str, set_name: str,
         transcript: str | None = None, phones: list[list[tuple[str, float, float]] | None] | None = None) -> dict:
    """A manifest row for `audio` with its timed words (`transcript`: the text they were read from, when it
    is not just the labels joined; `phones`: per word its timed phones, or None); raises ValueError naming
    what is wrong."""
    try:
        info = sf.info(str(audio))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise ValueError(f"audio cannot be read ({str(exc).strip() or type(exc).__name__})") from None
    duration = info.frames / info.samplerate
    if not words:
        raise ValueError("no words in the alignment")
    for (w0, a0, b0), (w1, a1, _) in zip(words, words[1:]):
        if a1 < b0 - 1e-6:
            raise ValueError(f"words overlap: {w0!r} ends at {b0:.3f} s after {w1!r} starts at {a1:.3f} s")
    for w, a, b in words:
        if not 0.0 <= a < b:
            raise ValueError(f"word {w!r} has times {a:.3f}-{b:.3f} s")
        if b > duration + TOLERANCE_S:
            raise ValueError(f"word {w!r} ends at {b:.3f} s, after the audio's end ({duration:.3f} s)")
    transcript = transcript or " ".join(w for w, _, _ in words)
    try:
        tokens = tokenize(transcript)
    except UnreadableWord as exc:
        raise ValueError(f"the model cannot read the word {str(exc)!r}") from None
    if len(tokens) != len(words):
        raise ValueError(f"the {len(words)} labels read as {len(tokens)} words (labels with spaces or "
                         "punctuation only?)")
    rows = [{"label": w, "start_s": round(a, 5), "end_s": round(min(b, duration), 5)} for w, a, b in words]
    for row, timed in zip(rows, phones or []):
        if timed:
            row["phones"] = [{"label": label, "start_s": round(a, 5), "end_s": round(b, 5)} for label, a, b in timed]
    return {"id": audio.stem, "audio": os.path.relpath(audio.absolute(), out_dir.absolute()),
            "transcript": transcript, "speaker": speaker, "set": set_name, "duration_s": round(duration, 4),
            "words": rows}


def _textgrid_words(path: Path, tier: str, report: ImportReport) -> list[tuple[str, float, float]]:
    from praatio import textgrid
    from praatio.utilities.errors import PraatioException

    try:
        grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    except (PraatioException, ValueError, IndexError, OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"TextGrid cannot be read ({str(exc).strip() or type(exc).__name__})") from None
    names = [n for n in grid.tierNames if n == tier or n.endswith(f" - {tier}")]
    if not names:
        raise ValueError(f"no interval tier named {tier!r} (tiers: {', '.join(grid.tierNames) or 'none'})")
    entries = []
    for name in names:
        found = grid.getTier(name)
        if not isinstance(found, textgrid.IntervalTier):
            raise ValueError(f"tier {name!r} is not an interval tier")
        entries += [(e.label.strip(), float(e.start), float(e.end)) for e in found.entries]
    entries.sort(key=lambda e: (e[1], e[2]))
    words = []
    for entry in entries:
        if is_word(entry[0]):
            words.append(entry)
        elif entry[0]:
            report.dropped_labels += 1
    return words


def import_textgrid_corpus(corpus: Path, out_dir: Path, tier: str = "words", alignments: Path | None = None,
                           set_name: str | None = None) -> ImportReport:
    """Every audio file of `corpus` that has a TextGrid (same name, next to it or under `alignments`)."""
    report = ImportReport()
    for item in discover(str(corpus)):
        audio, relative = item.audio, item.relative
        grid = (alignments or corpus) / relative.parent / (relative.name + ".TextGrid")
        if not grid.exists():
            report.failures.append((str(audio), f"no TextGrid ({grid})"))
            continue
        speaker = relative.parts[0] if len(relative.parts) > 1 else ""
        try:
            words = _textgrid_words(grid, tier, report)
            report.rows.append(_row(audio, out_dir, words, speaker, set_name or corpus.name))
        except ValueError as exc:
            report.failures.append((str(grid), str(exc)))
    return report


def _speaker_of(relative: Path) -> str:
    parts = relative.name.split("-")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return parts[0]
    return relative.parts[0] if len(relative.parts) > 1 else ""


MIN_PHONE_S = 0.01  # a silver phone squeezed shorter than this inside its word's span drops the word's phones


def word_phones(words: list[tuple[str, float, float]], pieces: list[tuple[int, str]],
                heard: list[list[tuple[str, float, float]]]) -> list[list[tuple[str, float, float]] | None]:
    """Per token (`words`: text, start_s, end_s) its timed phones from pocketsphinx's phone pass (`heard`, one
    list per spoken word of `pieces`), labelled with the CMU dictionary's stressed pronunciation that they say
    (`match_variant`), and kept inside the token's span; None for a token whose phones fit no pronunciation
    (the phones tier's rule for engine phones), or would fall outside the word."""
    from frametool.text.pronounce import match_variant

    out: list[list[tuple[str, float, float]] | None] = [[] for _ in words]
    for (i, spoken), timed in zip(pieces, heard):
        if out[i] is None:
            continue
        variant = match_variant([p for p, _, _ in timed], spoken) if timed else None
        if variant is None:
            out[i] = None
            continue
        out[i].extend((label, a, b) for label, (_, a, b) in zip(variant, timed))
    for i, (_, start, end) in enumerate(words):
        timed = out[i]
        if not timed:
            out[i] = None
            continue
        clipped = [(label, min(max(a, start), end), min(max(b, start), end)) for label, a, b in timed]
        clipped[0] = (clipped[0][0], start, clipped[0][2])
        clipped[-1] = (clipped[-1][0], clipped[-1][1], end)
        ok = all(b - a >= MIN_PHONE_S - 1e-9 for _, a, b in clipped) and \
            all(abs(a - b0) < 1e-6 for (_, _, b0), (_, a, _) in zip(clipped, clipped[1:]))
        out[i] = clipped if ok else None
    return out


def import_untimed_corpus(corpus: Path, out_dir: Path, transcripts: Path | None = None,
                          set_name: str | None = None, progress=None, items=None,
                          with_phones: bool = False) -> ImportReport:
    """Every audio file of `corpus` (or `items`, its discovered files) with a transcript, its words timed by
    pocketsphinx (silver), and with `with_phones` each word's phones from pocketsphinx's phone pass where
    they say one of its dictionary pronunciations. `progress(advance)` is optional."""
    from frametool.audio.io import load_audio
    from frametool.bench.peers import PHONE_PASS_OPTIONS, PocketsphinxAligner
    from frametool.errors import InputError
    from frametool.tasks.corpus import read_transcript
    from frametool.text.arpabet import espeak_arpabet

    # with phones, words and phones come from the decoder settings its phone pass needs
    aligner = PocketsphinxAligner(**(PHONE_PASS_OPTIONS if with_phones else {}))
    report = ImportReport()
    for item in items if items is not None else discover(str(corpus), transcripts):
        if progress:
            progress(1)
        try:
            tokens = read_transcript(item)
            samples = load_audio(item.audio).samples
        except (InputError, ValueError) as exc:
            report.failures.append((str(item.audio), str(exc)))
            continue
        pieces = [(i, word) for i, token in enumerate(tokens) for word in token.spoken]
        unknown = [w for _, w in pieces if aligner.lacks(w)]
        if unknown and shutil.which("espeak-ng"):
            aligner.add_words(espeak_arpabet(unknown))
            unknown = [w for w in unknown if aligner.lacks(w)]
        spans = aligner.align(samples, [w for _, w in pieces])
        if spans is None:
            why = f"words outside its dictionary: {', '.join(sorted(set(unknown)))}" if unknown else \
                "no alignment found"
            report.failures.append((str(item.audio), f"pocketsphinx could not align its transcript ({why})"))
            continue
        start_s: dict[int, float] = {}
        end_s: dict[int, float] = {}
        for (i, _), (a, b) in zip(pieces, spans):  # a token spans its spoken words
            start_s.setdefault(i, a)
            end_s[i] = b
        words = [(token.text, start_s[i], end_s[i]) for i, token in enumerate(tokens)]
        text = " ".join(t.text for t in tokens)
        phones = None
        if with_phones:
            heard = aligner.phones(samples, [w for _, w in pieces])
            phones = None if heard is None else word_phones(words, pieces, heard)
            report.phone_words += sum(p is not None for p in phones or [])
        try:
            report.rows.append(_row(item.audio, out_dir, words, _speaker_of(item.relative),
                                    set_name or corpus.name, text, phones))
        except ValueError as exc:
            report.failures.append((str(item.audio), str(exc)))
    return report


def parse_alignment_line(line: str) -> tuple[str, list[tuple[str, float, float]], int]:
    """`ID ",W1,,W2," "E1,E2,..."` -> (id, [(word, start, end)], number of silences left out)."""
    parts = line.split()
    if len(parts) != 3:
        raise ValueError("expected: ID \"WORDS\" \"END_TIMES\"")
    utt, words_field, ends_field = parts
    labels = words_field.strip('"').split(",")
    try:
        ends = [float(e) for e in ends_field.strip('"').split(",")]
    except ValueError:
        raise ValueError(f"end times are not numbers: {ends_field[:60]}") from None
    if len(labels) != len(ends):
        raise ValueError(f"{len(labels)} words but {len(ends)} end times")
    words, start, silences = [], 0.0, 0
    for label, end in zip(labels, ends):
        if end < start - 1e-6:
            raise ValueError(f"end times go backwards at {label!r} ({end:.3f} s < {start:.3f} s)")
        if is_word(label):
            words.append((label.lower(), start, end))
        else:
            silences += 1
        start = end
    return utt, words, silences


def import_librispeech(corpus: Path, out_dir: Path, set_name: str | None = None) -> ImportReport:
    report = ImportReport()
    files = sorted(corpus.rglob("*.alignment.txt"))
    if not files:
        raise UsageError(f"{corpus} holds no *.alignment.txt files (LibriSpeech word alignments)")
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                utt, words, _ = parse_alignment_line(line)
                audio = next((path.parent / f"{utt}{ext}" for ext in (".flac", ".wav")
                              if (path.parent / f"{utt}{ext}").exists()), None)
                if audio is None:
                    raise ValueError(f"no audio {utt}.flac or {utt}.wav next to it")
                report.rows.append(_row(audio, out_dir, words, utt.split("-")[0], set_name or corpus.name))
            except ValueError as exc:
                report.failures.append((f"{path}:{number}", str(exc)))
    return report


def held_out(groups, count: int, seed: int) -> set[str]:
    """The `count` groups (speakers, recordings) that `write_import` holds out for dev with `seed`."""
    return set(random.Random(seed).sample(sorted(groups), count))


def write_import(report, out_dir: Path, dev_count: int = 0, seed: int = 0, group: str = "speaker",
                 flag: str = "--dev-speakers") -> dict[str, Path]:
    """manifest.jsonl (all of `report.rows`); with `dev_count`, also train.jsonl and dev.jsonl split by the
    rows' `group` key (that many groups drawn with `seed` for dev: speakers, or recordings for event
    manifests); failures.tsv when files were skipped (`report.failures`). A split that leaves nothing to train
    on is refused before anything is written; each file is written whole or not at all (temporary name, then
    rename)."""
    groups = sorted({r[group] for r in report.rows}) if dev_count else []
    if dev_count and len(groups) <= dev_count:
        raise UsageError(f"{flag} {dev_count}: the corpus has only {len(groups)} {group}(s); at least one must "
                         "stay for training")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    def put(name: str, text: str) -> None:
        target = out_dir / name
        tmp = target.with_name(target.name + ".part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
        written[name] = target

    lines = lambda rows: "".join(json.dumps(r) + "\n" for r in rows)  # noqa: E731
    put("manifest.jsonl", lines(report.rows))
    if dev_count:
        held = held_out(groups, dev_count, seed)
        put("train.jsonl", lines([r for r in report.rows if r[group] not in held]))
        put("dev.jsonl", lines([r for r in report.rows if r[group] in held]))
    if report.failures:
        put("failures.tsv", "path\treason\n" + "".join(f"{p}\t{why}\n" for p, why in report.failures))
    return written
