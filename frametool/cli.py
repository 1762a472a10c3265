"""The `frametool` command: parse, build one frozen config, call one library function, map errors to
exit codes (0 all done, 1 some files failed, 2 bad usage or nothing could run). Heavy imports (torch)
happen inside the commands so `frametool --help` stays instant."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from frametool.config import (DEFAULT_MODEL, DEVICES, DIARIZE_FORMATS, DIARIZE_MODEL, EVENT_FORMATS, OUTPUT_FORMATS,
                              TIERS, AlignConfig)
from frametool.errors import FrametoolError, ModelError, UsageError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Find when things happen in audio: word alignment (TextGrid), diarization "
                       "(RTTM) and sound events (JSON), from one audio-LM forward pass.")
bench_app = typer.Typer(no_args_is_help=True, help="Measure accuracy and speed (DESIGN.md §7).")
app.add_typer(bench_app, name="bench")


def _err(message: str) -> None:
    typer.echo(f"frametool: {message}", err=True)


def _fail_usage(message: str) -> None:
    _err(message)
    raise typer.Exit(2)


def _check_choice(name: str, value: str, choices) -> None:
    if value not in choices:
        _fail_usage(f"{name} must be one of {', '.join(choices)}, not {value!r}")


def build_align_config(corpus: str, out: str, transcripts: Optional[Path], format: str, model: str,
                       device: str, batch_size: int, jobs: int, overwrite: bool, decode: str,
                       confidence_tier: bool, workers: int = 1, tiers: str | None = None) -> AlignConfig:
    _check_choice("--format", format.lower(), OUTPUT_FORMATS)
    _check_choice("--device", device, DEVICES)
    _check_choice("--decode", decode, ("median", "mode"))
    if batch_size < 1 or jobs < 0:
        _fail_usage("--batch-size must be at least 1 and --jobs at least 0 (0 = all cores)")
    if workers < 1:
        _fail_usage("--workers must be at least 1")
    if workers > 1 and device == "cuda":
        _fail_usage("--workers above 1 runs on the CPU only: use --device cpu, or one worker on the GPU")
    chosen = None
    if tiers is not None:
        chosen = tuple(t.strip().lower() for t in tiers.split(",") if t.strip())
        unknown = [t for t in chosen if t not in TIERS]
        if not chosen or unknown:
            _fail_usage(f"--tiers {tiers!r}: choose a comma-separated list of {', '.join(TIERS)}")
        chosen = tuple(t for t in TIERS if t in chosen)  # words first, phones under them
    return AlignConfig(corpus=corpus, out=out, transcripts=transcripts, format=format.lower(), model=model,
                       device=device, batch_size=batch_size, jobs=jobs, overwrite=overwrite,
                       decode=decode, confidence_tier=confidence_tier, workers=workers, tiers=chosen)


@app.command()
def align(
    corpus: str = typer.Argument(..., help="Corpus folder (MFA layout), one audio file, or - for paths on stdin."),
    out: str = typer.Option(..., "--out", "-o", help="Output folder (mirrors the corpus), or - for JSON lines on stdout."),
    transcripts: Optional[Path] = typer.Option(None, "--transcripts", help="Folder of .lab/.txt transcripts mirroring the corpus."),
    format: str = typer.Option("textgrid", "--format", "-f", help="textgrid, json, csv or tsv."),
    model: str = typer.Option(DEFAULT_MODEL, "--model", "-m", help="Bundled model name or local model folder."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    batch_size: int = typer.Option(1, "--batch-size", help="Utterances per forward pass (1: fastest on CPU, outputs independent of batching)."),
    jobs: int = typer.Option(0, "--jobs", help="CPU threads for the model (0 = all cores)."),
    workers: int = typer.Option(1, "--workers", help="Processes aligning files side by side on the CPU, sharing the --jobs threads (2 or more: faster on many files)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo files whose output exists (default: skip them)."),
    decode: str = typer.Option("median", "--decode", help="median (posterior median, default) or mode (the paper's)."),
    confidence_tier: bool = typer.Option(False, "--confidence-tier", help="Add a per-word confidence tier to TextGrids."),
    tiers: Optional[str] = typer.Option(None, "--tiers", help="Tiers to write: words, phones or words,phones (default: words,phones where the model has a phone head, else words)."),
) -> None:
    """Align transcripts to audio: one `words` interval per transcript word (and its phones)."""
    config = build_align_config(corpus, out, transcripts, format, model, device, batch_size, jobs, overwrite,
                                decode, confidence_tier, workers, tiers)
    raise typer.Exit(run_align(config))


def run_align(config: AlignConfig) -> int:
    import torch

    from frametool.tasks.runner import align_corpus
    from frametool.tasks.corpus import discover
    from frametool.tasks.sharded import align_corpus_sharded, launched_ranks, process_group_barrier

    if config.jobs and config.workers == 1:
        torch.set_num_threads(config.jobs)
    try:
        _make_out_dir(config.out)
        items = discover(config.corpus, config.transcripts)
        rank, world_size, local_rank = launched_ranks()
        if world_size > 1:  # under accelerate launch: this process's share (tasks/sharded.py)
            if torch.cuda.is_available() and config.device != "cpu":
                torch.cuda.set_device(local_rank)
            summary = align_corpus_sharded(config, rank, world_size, process_group_barrier(), items)
            if rank != 0:
                return summary.exit_code  # rank 0 reports for the whole corpus
        else:
            summary = _with_progress(len(items), lambda progress: align_corpus(config, progress=progress, items=items))
    except (UsageError, ModelError) as exc:
        _err(str(exc))
        return 2
    except OSError as exc:
        _err(f"{exc.filename or config.out}: {exc.strerror or exc}")
        return 2
    except FrametoolError as exc:
        _err(str(exc))
        return 2
    return _report(summary, "aligned", f"; {summary.flagged_words} words flagged")


def _make_out_dir(out: str) -> None:
    """--out DIR is made when missing (nothing to make for --out -); a file in its place is a usage error."""
    if out != "-":
        out_dir = Path(out)
        if out_dir.exists() and not out_dir.is_dir():
            raise UsageError(f"--out {out_dir} exists and is not a folder")
        out_dir.mkdir(parents=True, exist_ok=True)


def _report(summary, verb: str, extra: str = "") -> int:
    """The end-of-run summary of a corpus task on stderr -> its exit code (2 when nothing could run)."""
    rtf = f"{summary.real_time_factor:.4f}" if summary.audio_s else "n/a"
    _err(f"{verb} {summary.done}, skipped {summary.skipped} (output exists), failed {len(summary.failures)} "
         f"of {summary.total} files{extra}; "
         f"{summary.audio_s:.1f} s of audio in {summary.wall_s:.1f} s (real-time factor {rtf})")
    for failure in summary.failures[:20]:
        _err(f"  failed: {failure.path} [{failure.stage}] {failure.message}")
    if summary.failures_path:
        _err(f"failures listed in {summary.failures_path}")
    if summary.total and summary.done == 0 and summary.skipped == 0:
        return 2  # nothing could run
    return summary.exit_code


def _with_progress(total: int, work, label: str = "aligning"):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if not sys.stderr.isatty():
        return work(None)
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True) as bar:
        task = bar.add_task("align", total=total)
        return work(lambda n: bar.advance(task, n))


@app.command()
def validate(
    corpus: str = typer.Argument(..., help="Corpus folder, one audio file, or - for paths on stdin."),
    transcripts: Optional[Path] = typer.Option(None, "--transcripts", help="Folder of transcripts mirroring the corpus."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write the per-file TSV report here."),
    model: str = typer.Option(DEFAULT_MODEL, "--model", "-m", help="Check against this model's limits (duration, words)."),
) -> None:
    """Check a corpus before aligning it: transcripts, audio, durations, speaking rates. Exit 1 on problems."""
    from frametool.tasks.validate import render_tsv, validate_corpus
    from frametool.writers import write_atomic

    try:
        reports = validate_corpus(corpus, transcripts, model)
    except UsageError as exc:
        _fail_usage(str(exc))
    bad = [r for r in reports if r.problems]
    total_s = sum(r.duration_s or 0.0 for r in reports)
    rates = sorted({r.sample_rate_hz for r in reports if r.sample_rate_hz})
    channels = sorted({r.channels for r in reports if r.channels})
    typer.echo(f"{len(reports)} files, {total_s / 60:.1f} min of audio; sample rates {rates} Hz; "
               f"channels {channels}; {len(bad)} with problems")
    for r in bad:
        typer.echo(f"  {r.audio}: {'; '.join(r.problems)}")
    if report:
        write_atomic(report, render_tsv(reports))
        typer.echo(f"report written to {report}")
    raise typer.Exit(1 if bad else 0)


@app.command()
def diarize(
    audio: List[str] = typer.Argument(None, help="Audio files or folders (searched recursively), or - for paths on stdin."),
    out: str = typer.Option("-", "--out", "-o", help="Output folder (<stem>.rttm or .json per recording, mirroring the input), or - for JSON lines on stdout."),
    format: str = typer.Option("rttm", "--format", "-f", help="rttm or json."),
    num_speakers: Optional[int] = typer.Option(None, "--num-speakers", help="The number of speakers, when known."),
    min_speakers: Optional[int] = typer.Option(None, "--min-speakers", help="At least this many speakers."),
    max_speakers: Optional[int] = typer.Option(None, "--max-speakers", help="At most this many speakers."),
    model: str = typer.Option(DIARIZE_MODEL, "--model", "-m", help="Bundled diarization model or a trained model folder."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    jobs: int = typer.Option(0, "--jobs", help="CPU threads for the model (0 = all cores)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo files whose output exists (default: skip them)."),
    speech_gate: Optional[str] = typer.Option(None, "--speech-gate", help="A sound-event model with a speech label (e.g. sound-events) that also reads each recording: speaker turns only where it hears speech, so music, alarms and other sounds are nobody's turn. none: off. Default: what the model's decoding says (the bundled whisper-diarize: none)."),
) -> None:
    """Who speaks when: speaker turns as RTTM (speakers numbered by first speech), overlap allowed."""
    from frametool.config import DiarizeConfig
    from frametool.decoders.diarize import SpeakerBounds
    from frametool.tasks.diarize import check_bounds, load_diarize_model, use_speech_gate

    _check_choice("--format", format.lower(), DIARIZE_FORMATS)
    _check_choice("--device", device, DEVICES)
    if jobs < 0:
        _fail_usage("--jobs must be at least 0 (0 = all cores)")
    if not audio:
        _fail_usage("give audio files or folders (or - for paths on stdin)")
    try:
        check_bounds(SpeakerBounds(num_speakers, min_speakers, max_speakers))
        loaded = load_diarize_model(model, device)
        if speech_gate:
            use_speech_gate(loaded, speech_gate, device)
    except FrametoolError as exc:
        _fail_usage(str(exc))
    config = DiarizeConfig(corpus=audio[0], out=out, model=model, format=format.lower(), num_speakers=num_speakers,
                           min_speakers=min_speakers, max_speakers=max_speakers, device=device, jobs=jobs,
                           overwrite=overwrite)
    raise typer.Exit(run_diarize(config, audio, loaded))


def run_diarize(config, inputs: List[str], model) -> int:
    import torch

    from frametool.tasks.corpus import _check_unique, discover
    from frametool.tasks.diarize import diarize_corpus

    if config.jobs:
        torch.set_num_threads(config.jobs)
    try:
        _make_out_dir(config.out)
        items = _check_unique([item for source in inputs for item in discover(source)])
        summary = _with_progress(len(items), lambda progress: diarize_corpus(config, model, progress=progress,
                                                                              items=items, warn=_err), "diarizing")
    except (FrametoolError, OSError) as exc:
        _err(str(exc) if isinstance(exc, FrametoolError) else f"{exc.filename or config.out}: {exc.strerror or exc}")
        return 2
    return _report(summary, "diarized")


@app.command()
def events(
    audio: List[str] = typer.Argument(None, help="Audio files or folders (searched recursively), or - for paths on stdin."),
    event: Optional[List[str]] = typer.Option(None, "--event", "-e", help="Event label to find; repeat for several (default: every label of the model)."),
    out: str = typer.Option("-", "--out", "-o", help="Output folder (one file per recording, mirroring the input), or - for JSON lines on stdout."),
    format: str = typer.Option("json", "--format", "-f", help="json, tsv or csv."),
    model: str = typer.Option(..., "--model", "-m", help="Bundled event model (bengalese-finch) or a trained model folder (frametool train with an events recipe)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    jobs: int = typer.Option(0, "--jobs", help="CPU threads for the model (0 = all cores)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo files whose output exists (default: skip them)."),
    list_events: bool = typer.Option(False, "--list-events", help="Print the model's event labels and exit."),
) -> None:
    """When sound events occur: onset, offset, 90 % credible intervals and confidence of every event."""
    from frametool.config import EventsConfig
    from frametool.tasks.events import load_event_model

    _check_choice("--format", format.lower(), EVENT_FORMATS)
    _check_choice("--device", device, DEVICES)
    if jobs < 0:
        _fail_usage("--jobs must be at least 0 (0 = all cores)")
    try:
        loaded = load_event_model(model, device)
    except ModelError as exc:
        _fail_usage(str(exc))
    if list_events:
        for label in loaded.config.labels:
            typer.echo(label)
        raise typer.Exit(0)
    if not audio:
        _fail_usage("give audio files or folders (or - for paths on stdin)")
    config = EventsConfig(corpus=audio[0], out=out, model=model, labels=tuple(event or ()), format=format.lower(),
                          device=device, jobs=jobs, overwrite=overwrite)
    raise typer.Exit(run_events(config, audio, loaded))


def run_events(config, inputs: List[str], model) -> int:
    import torch

    from frametool.tasks.corpus import _check_unique, discover
    from frametool.tasks.events import events_corpus

    if config.jobs:
        torch.set_num_threads(config.jobs)
    try:
        _make_out_dir(config.out)
        items = _check_unique([item for source in inputs for item in discover(source)])
        summary = _with_progress(len(items), lambda progress: events_corpus(config, model, progress=progress,
                                                                             items=items), "detecting")
    except (FrametoolError, OSError) as exc:
        _err(str(exc) if isinstance(exc, FrametoolError) else f"{exc.filename or config.out}: {exc.strerror or exc}")
        return 2
    return _report(summary, "detected events in")


@app.command()
def train(
    recipe: Path = typer.Argument(..., help="Recipe TOML (see recipes/tiny-align.toml)."),
    overrides: Optional[List[str]] = typer.Argument(None, help="KEY=VALUE overrides of [train] keys."),
) -> None:
    """Train a backbone + head from manifests; writes safetensors checkpoints."""
    from frametool.training.events_train import load_event_recipe, recipe_task, train_events
    from frametool.training.train import load_recipe, train as run_training

    log = lambda line: typer.echo(line, err=True)  # noqa: E731
    try:
        task = recipe_task(recipe)
        if task == "events":
            best = train_events(load_event_recipe(recipe, overrides or []), log=log)
        elif task == "phones":
            from frametool.training.phones_train import load_phone_recipe, train_phones

            best = train_phones(load_phone_recipe(recipe, overrides or []), log=log)
        elif task == "diarize":
            from frametool.training.diarize_train import load_diarize_recipe, train_diarize

            best = train_diarize(load_diarize_recipe(recipe, overrides or []), log=log)
        else:
            best = run_training(load_recipe(recipe, overrides or []), log=log)
    except FrametoolError as exc:
        _fail_usage(str(exc))
    import os

    if os.environ.get("RANK", "0") == "0":  # under accelerate launch, the main process answers
        typer.echo(str(best))


@app.command("import")
def import_corpus(
    corpus: Path = typer.Argument(..., help="Corpus you own: audio + TextGrids, LibriSpeech with *.alignment.txt, or audio + transcripts (pocketsphinx)."),
    out: Path = typer.Option(..., "--out", help="Folder for manifest.jsonl (and train.jsonl/dev.jsonl, failures.tsv)."),
    layout: str = typer.Option("textgrid", "--format", help="textgrid (MFA-style: a TextGrid per audio file), librispeech, or pocketsphinx (transcripts only: words timed by pocketsphinx, silver); for event models: events-tsv (onset<TAB>offset<TAB>label, also Audacity label tracks), raven (selection tables) or textgrid-events (an interval tier of labels)."),
    tier: str = typer.Option("words", "--tier", help="TextGrid interval tier with the words (textgrid) or the event labels (textgrid-events; default there: events)."),
    label_column: Optional[str] = typer.Option(None, "--label-column", help="raven: the column holding the label (default: Annotation, Label, Species, Call Type or Class)."),
    dev_files: int = typer.Option(0, "--dev-files", help="Event layouts: hold out this many recordings as dev.jsonl."),
    alignments: Optional[Path] = typer.Option(None, "--alignments", help="TextGrids (or event annotation files) kept apart from the audio (mirrored paths)."),
    dev_speakers: int = typer.Option(0, "--dev-speakers", help="Hold out this many speakers as dev.jsonl (train.jsonl gets the rest)."),
    seed: int = typer.Option(0, help="Seed for choosing the dev speakers."),
    phones: bool = typer.Option(False, "--phones", help="pocketsphinx: also time each word's phones (its phone-level pass; words whose phones say no CMU dictionary pronunciation get none), for training a phone head."),
) -> None:
    """Make a training manifest from a word-aligned corpus or from event annotations, for `frametool train`."""
    from frametool.training.event_import import EVENT_LAYOUTS

    _check_choice("--format", layout, ("textgrid", "librispeech", "pocketsphinx") + EVENT_LAYOUTS)
    if dev_speakers < 0 or dev_files < 0:
        _fail_usage("--dev-speakers and --dev-files must be 0 or more")
    if phones and layout != "pocketsphinx":
        _fail_usage("--phones goes with --format pocketsphinx")
    if not corpus.is_dir():
        _fail_usage(f"corpus {corpus} is not a folder")
    if alignments is not None and not alignments.is_dir():
        _fail_usage(f"--alignments {alignments} is not a folder")
    if layout in EVENT_LAYOUTS:
        raise typer.Exit(_import_events(corpus, out, layout, alignments, "events" if tier == "words" else tier,
                                        label_column, dev_files, seed))
    from frametool.training.importers import (import_librispeech, import_textgrid_corpus, import_untimed_corpus,
                                              write_import)

    try:
        if layout == "textgrid":
            report = import_textgrid_corpus(corpus, out, tier, alignments)
        elif layout == "pocketsphinx":
            from frametool.tasks.corpus import discover

            items = discover(str(corpus))
            report = _with_progress(len(items), lambda progress: import_untimed_corpus(
                corpus, out, progress=progress, items=items, with_phones=phones), "importing")
        else:
            report = import_librispeech(corpus, out)
        _fail_if_empty(report, f"no usable utterance in {corpus}")
        written = write_import(report, out, dev_speakers, seed)
    except FrametoolError as exc:
        _fail_usage(str(exc))
    hours = sum(r["duration_s"] for r in report.rows) / 3600
    words = sum(len(r["words"]) for r in report.rows)
    _err(f"imported {len(report.rows)} utterances ({hours:.2f} h, {words} words), skipped {len(report.failures)}; "
         f"{report.dropped_labels} non-word labels left out of transcripts"
         + (f"; {report.phone_words} words with timed phones" if phones else ""))
    _imported(report, written)


def _imported(report, written: dict) -> None:
    """After an import: the first skipped files with their reasons (stderr), the manifests written (stdout)."""
    for path, why in report.failures[:10]:
        _err(f"  {path}: {why}")
    if "failures.tsv" in written:
        _err(f"skipped files listed in {written['failures.tsv']}")
    for name in ("manifest.jsonl", "train.jsonl", "dev.jsonl"):
        if name in written:
            typer.echo(str(written[name]))


def _fail_if_empty(report, message: str) -> None:
    """An import that kept no row is a usage error, with the first skipped files' reasons."""
    if not report.rows:
        reasons = "; ".join(f"{p}: {why}" for p, why in report.failures[:3])
        _fail_usage(message + (f" ({reasons})" if reasons else ""))


def _import_events(corpus: Path, out: Path, layout: str, annotations: Optional[Path], tier: str,
                   label_column: Optional[str], dev_files: int, seed: int) -> int:
    from frametool.training.event_import import import_event_corpus, write_event_import

    try:
        report = import_event_corpus(corpus, layout, annotations, tier, label_column)
        _fail_if_empty(report, f"no usable recording in {corpus}")
        written = write_event_import(report, out, dev_files, seed)
    except FrametoolError as exc:
        _fail_usage(str(exc))
    events = sum(len(r["events"]) for r in report.rows)
    labels = sorted({e[2] for r in report.rows for e in r["events"]})
    _err(f"imported {len(report.rows)} recordings ({sum(r['duration_s'] for r in report.rows) / 60:.1f} min, "
         f"{events} events, {len(labels)} labels), skipped {len(report.failures)}")
    _imported(report, written)
    return 0


@app.command()
def synth(
    out: Path = typer.Argument(..., help="Output corpus folder."),
    split: str = typer.Option("train", help="train, dev or test (disjoint voices)."),
    hours: float = typer.Option(1.0, help="Hours of speech to generate."),
    voices: int = typer.Option(40, "--voices", help="Number of distinct voices."),
    seed: int = typer.Option(0),
    augment: bool = typer.Option(True, "--augment/--clean"),
    jobs: int = typer.Option(2, help="Processes."),
    max_words: int = typer.Option(40, "--max-words", help="Longest transcript, in words."),
    engines: str = typer.Option("espeak-ng,festival", "--engines", help="Comma-separated: espeak-ng, festival, flite (skipped where not installed)."),
    disfluent: float = typer.Option(0.0, "--disfluent", help="Fraction of utterances spoken like spontaneous speech: fillers, drawn-out words, long pauses, coughs and breaths between words."),
) -> None:
    """Generate a synthetic MFA-style corpus (wav + .lab + reference TextGrid) with exact word times."""
    _check_choice("--split", split, ("train", "dev", "test"))
    engine_list = tuple(e.strip() for e in engines.split(",") if e.strip())
    for engine in engine_list:
        _check_choice("--engines", engine, ("espeak-ng", "festival", "flite"))
    if max_words < 1:
        _fail_usage("--max-words must be at least 1")
    if not 0.0 <= disfluent <= 1.0:
        _fail_usage(f"--disfluent must be between 0 and 1, got {disfluent}")
    from frametool.synth.espeak import EspeakUnavailable
    from frametool.synth.generate import SynthConfig, generate

    try:
        manifest = generate(SynthConfig(out, split=split, hours=hours, num_voices=voices, seed=seed,
                                        augment=augment, jobs=jobs, max_words=max_words,
                                        engines=engine_list, disfluent=disfluent))
    except EspeakUnavailable as exc:
        _fail_usage(str(exc))
    typer.echo(str(manifest))


@app.command("synth-scenes")
def synth_scenes(
    out: Path = typer.Argument(..., help="Output folder: <id>.wav, <id>.tsv (onset, offset, label), manifest.jsonl."),
    speech: List[Path] = typer.Option(..., "--speech", help="Word-timed corpus manifest (frametool synth / import) the speech events come from; repeatable."),
    split: str = typer.Option("train", help="train, dev or test: own seeds; test scenes hear music instruments training never hears."),
    scenes: int = typer.Option(100, help="Number of scenes."),
    duration: float = typer.Option(15.0, help="Seconds per scene."),
    seed: int = typer.Option(0),
    jobs: int = typer.Option(2, help="Processes."),
    weight: List[str] = typer.Option([], "--weight", help="LABEL=W: how often a label is drawn for an event, relative to the others (default speech=3, music=2.5, the rest 1); repeatable."),
) -> None:
    """Mix synthetic sound scenes with exact event labels (speech, music, alarm, siren, knock, chirp)."""
    _check_choice("--split", split, ("train", "dev", "test"))
    if scenes < 1 or duration < 2.0:
        _fail_usage("--scenes must be at least 1 and --duration at least 2 s")
    from frametool.synth.scenes import DEFAULT_WEIGHTS, LABELS, SceneConfig, generate_scenes

    weights = dict(DEFAULT_WEIGHTS)
    for item in weight:
        label, _, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if label not in LABELS or not number >= 0:
            _fail_usage(f"--weight {item!r}: give LABEL=W with W >= 0 and LABEL one of {', '.join(LABELS)}")
        weights[label] = number
    if not any(weights.get(label, 1.0) > 0 for label in LABELS):
        _fail_usage("--weight: at least one label needs a weight above 0")
    try:
        manifest = generate_scenes(SceneConfig(out, tuple(speech), split=split, scenes=scenes, duration_s=duration,
                                               seed=seed, jobs=jobs, weights=weights))
    except FrametoolError as exc:
        _fail_usage(str(exc))
    typer.echo(str(manifest))


@app.command("synth-mixtures")
def synth_mixtures(
    out: Path = typer.Argument(..., help="Output folder: <id>.wav, <id>.rttm, <id>.uem, manifest.jsonl."),
    speech: List[Path] = typer.Option(..., "--speech", help="Word-timed corpus manifest whose speakers (or voices) are mixed; repeatable."),
    style: str = typer.Option("count", help="count (speakers start at random moments and overlap: who starts when) or conversation (turns, overlaps, back-channels)."),
    speakers: str = typer.Option("1-6", help="Speakers per recording: N or LOW-HIGH."),
    split: str = typer.Option("train", help="train, dev or test: own seeds."),
    recordings: int = typer.Option(100, help="Number of recordings."),
    duration: float = typer.Option(10.0, help="Seconds per recording."),
    seed: int = typer.Option(0),
    jobs: int = typer.Option(2, help="Processes."),
    sounds: float = typer.Option(0.0, help="Mean number of non-speech sounds (music, alarms, sirens, knocks, chirps) mixed into each recording, labelled as nobody's speech."),
) -> None:
    """Mix multi-speaker recordings with exact speaker turns (RTTM) for diarization."""
    _check_choice("--split", split, ("train", "dev", "test"))
    _check_choice("--style", style, ("count", "conversation"))
    try:
        low, _, high = speakers.partition("-")
        low_n, high_n = int(low), int(high or low)
    except ValueError:
        _fail_usage(f"--speakers must be N or LOW-HIGH, not {speakers!r}")
    if recordings < 1 or duration < 2.0:
        _fail_usage("--recordings must be at least 1 and --duration at least 2 s")
    if not 0.0 <= sounds <= 50.0:
        _fail_usage(f"--sounds must be between 0 and 50, not {sounds:g}")
    from frametool.synth.mixtures import MixtureConfig, generate_mixtures

    try:
        manifest = generate_mixtures(MixtureConfig(out, tuple(speech), split=split, style=style, recordings=recordings,
                                                   duration_s=duration, min_speakers=low_n, max_speakers=high_n,
                                                   seed=seed, jobs=jobs, sounds=sounds))
    except FrametoolError as exc:
        _fail_usage(str(exc))
    typer.echo(str(manifest))


@bench_app.command("accuracy")
def bench_accuracy(
    corpus: Path = typer.Argument(..., help="Corpus folder with audio + .lab transcripts."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="Folder of reference TextGrids mirroring the corpus (default: next to the audio)."),
    model: str = typer.Option(DEFAULT_MODEL, "--model", "-m"),
    peer: Optional[str] = typer.Option(None, "--peer", help="Also run a peer aligner: pocketsphinx."),
    decode: str = typer.Option("median", "--decode"),
    tier: str = typer.Option("words", "--tier", help="words (word boundaries) or phones (phone onsets, folded to 39 classes, matched by edit distance)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object last."),
) -> None:
    """Word-boundary (or phone-onset) accuracy against reference TextGrids, per set and overall."""
    from frametool.bench.accuracy import run_accuracy

    _check_choice("--decode", decode, ("median", "mode"))
    _check_choice("--tier", tier, ("words", "phones"))
    if peer not in (None, "pocketsphinx"):
        _fail_usage("--peer must be pocketsphinx")
    try:
        if tier == "phones":
            from frametool.bench.phones import run_phone_accuracy

            report = run_phone_accuracy(corpus, reference, model, peer, decode)
        else:
            report = run_accuracy(corpus, reference, model, peer, decode)
    except FrametoolError as exc:
        _fail_usage(str(exc))
    typer.echo(report.table())
    if json_out:
        import json

        typer.echo(json.dumps(report.as_dict()))


@bench_app.command("events")
def bench_events(
    corpus: Path = typer.Argument(..., help="Folder of recordings (or one file)."),
    reference: Path = typer.Option(..., "--reference", help="Folder of reference tables <stem>.tsv (onset, offset, label); its manifest.jsonl's annotated_sequences limit scoring to the annotated regions."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Event model to score."),
    baseline_train: Optional[Path] = typer.Option(None, "--baseline-train", help="Event manifest (frametool import) to fit the energy-threshold baseline on; scored beside the model."),
    event: Optional[List[str]] = typer.Option(None, "--event", "-e", help="Only these labels (default: all)."),
    peer: Optional[str] = typer.Option(None, "--peer", help="Also score a peer: silero-vad (its speech regions are `speech` events)."),
    per_file: bool = typer.Option(False, "--per-file", help="Also print onset F1 at 200 ms file by file."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object last."),
) -> None:
    """Event onset/offset accuracy at 10/20/50/200 ms, event F1 and syllable error rate.

    References are <stem>.tsv tables, or diarization RTTMs (<stem>.rttm, scored inside <stem>.uem) whose
    speakers' turns together are the `speech` events."""
    from frametool.bench.events import run_events_bench

    try:
        report = run_events_bench(corpus, reference, model, baseline_train, list(event or ()) or None, peer)
    except FrametoolError as exc:
        _fail_usage(str(exc))
    typer.echo(report.table())
    if per_file:
        typer.echo("")
        typer.echo(report.file_table())
    if json_out:
        import json

        typer.echo(json.dumps(report.as_dict()))


@bench_app.command("diarization")
def bench_diarization(
    corpus: Path = typer.Argument(..., help="Folder of recordings (or one file)."),
    reference: Path = typer.Option(..., "--reference", help="Folder of reference <stem>.rttm (and <stem>.uem: the scored region)."),
    peer: List[str] = typer.Option(["silero-vad"], "--peer", help="Peers to score: silero-vad (its speech, all one speaker)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="A frametool diarization model to score next to the peers (bundled name or folder)."),
    no_peer: bool = typer.Option(False, "--no-peer", help="Score the model only."),
    collar: float = typer.Option(0.5, "--collar", help="pyannote's collar: the total width around each reference boundary that is not scored (0.5 = ±0.25 s)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object last."),
) -> None:
    """Diarization error rate (missed, false alarm, confusion; overlap scored) file by file and overall."""
    from frametool.bench.diarization import ModelSystem, peer_system, run_diarization_bench

    if collar < 0:
        _fail_usage("--collar must be at least 0")
    try:
        systems = {}
        if model:
            system = ModelSystem(model)
            systems[system.name] = system
        systems.update({name: peer_system(name) for name in ([] if no_peer else peer)})
        report = run_diarization_bench(corpus, reference, systems, collar)
    except FrametoolError as exc:
        _fail_usage(str(exc))
    typer.echo(report.table())
    if json_out:
        import json

        typer.echo(json.dumps(report.as_dict()))


@bench_app.command("speed")
def bench_speed(
    model: str = typer.Option(DEFAULT_MODEL, "--model", "-m"),
    repeats: int = typer.Option(3, help="Timed repeats per cell (median), after one warm-up."),
    batch_sizes: str = typer.Option("1,4,16", "--batch-sizes", help="Comma-separated batch sizes."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a PNG of speed-up vs bucket here (needs matplotlib)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object last."),
) -> None:
    """Frame-level inference vs token generation on the same backbone, by number of timestamps."""
    from frametool.bench.speed import run_speed, table

    try:
        sizes = tuple(int(b) for b in batch_sizes.split(","))
    except ValueError:
        _fail_usage("--batch-sizes must be comma-separated integers")
    if repeats < 1 or not sizes or min(sizes) < 1:
        _fail_usage("--repeats and every batch size must be at least 1")
    try:
        report = run_speed(model, repeats, sizes)
    except FrametoolError as exc:
        _fail_usage(str(exc))
    typer.echo(table(report))
    if plot:
        from frametool.bench.speed import plot as draw

        try:
            draw(report, plot)
        except ImportError:
            _fail_usage("--plot needs matplotlib: pip install 'frametool[bench]'")
        typer.echo(f"plot written to {plot}")
    if json_out:
        import json

        typer.echo(json.dumps(report))


@bench_app.command("length")
def bench_length(
    train_corpus: Path = typer.Argument(..., help="Synthetic training corpus (frametool synth --split train)."),
    test_corpus: Path = typer.Argument(..., help="Synthetic test corpus (frametool synth --split test)."),
    train_range: float = typer.Option(4.0, "--train-range", help="Train on words within 0-R seconds; test on 0-R and R-2R."),
    minutes: float = typer.Option(5.0, "--minutes", help="Training wall time per model."),
    heads: str = typer.Option("poisson,binary,tokens", "--heads", help="Comma-separated: poisson, binary, tokens."),
    max_train: int = typer.Option(0, "--max-train", help="Use at most this many training utterances (0 = all)."),
    init: str = typer.Option("tiny-align", "--init", help="Backbone to start from (a model name or folder); '' = from scratch."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object last."),
) -> None:
    """Length generalisation (the paper's Table 4): Poisson, binary and token models out of their range."""
    from frametool.bench.length import HEADS, LengthConfig, run_length, table

    chosen = tuple(h.strip() for h in heads.split(",") if h.strip())
    if not chosen or any(h not in HEADS for h in chosen):
        _fail_usage(f"--heads must be a comma-separated subset of {', '.join(HEADS)}")
    if train_range <= 0 or minutes <= 0:
        _fail_usage("--train-range and --minutes must be positive")
    manifests = []
    for corpus in (train_corpus, test_corpus):
        manifest = corpus / "manifest.jsonl" if corpus.is_dir() else corpus
        if not manifest.is_file():
            _fail_usage(f"{corpus}: no manifest.jsonl (make one with frametool synth)")
        manifests.append(manifest)
    config = LengthConfig(train_range_s=train_range, minutes_per_model=minutes, init=init,
                          test_ranges_s=((0.0, train_range), (train_range, 2 * train_range)))
    try:
        report = run_length(manifests[0], manifests[1], config, chosen, max_train,
                            log=lambda line: typer.echo(line, err=True))
    except FrametoolError as exc:
        _fail_usage(str(exc))
    typer.echo(table(report))
    if json_out:
        import json

        typer.echo(json.dumps(report))


def main() -> None:
    app()
