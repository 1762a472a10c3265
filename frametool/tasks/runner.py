"""Run alignment over a corpus: stream per file, skip finished outputs, record failures, never stop
for one bad file. Outputs are written atomically; failures go to `<out>/failures.tsv`."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from frametool.audio.io import load_audio
from frametool.config import MIN_DURATION_S, AlignConfig
from frametool.errors import FrametoolError, InputError
from frametool.tasks.align import Requests, tiers_for
from frametool.tasks.corpus import CorpusItem, discover, read_transcript
from frametool.tasks.long import align_recordings, has_windows
from frametool.writers import WRITERS, write_atomic
from frametool.writers.tabular import render_jsonl

FAILURES_FILE = "failures.tsv"
LOOKAHEAD_BATCHES = 8  # files read ahead and sorted by length before batching
PRONOUNCE_AHEAD = 256  # files whose transcripts' words are pronounced together (where phones are written)


@dataclass
class Failure:
    path: str
    stage: str
    message: str


@dataclass
class RunSummary:
    total: int = 0
    done: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)
    flagged_words: int = 0
    audio_s: float = 0.0
    wall_s: float = 0.0
    failures_path: Path | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0

    @property
    def real_time_factor(self) -> float:
        return self.wall_s / self.audio_s if self.audio_s else float("nan")


def output_path(config: AlignConfig, item: CorpusItem) -> Path:
    extension = WRITERS[config.format][0]
    return Path(config.out) / item.relative.parent / (item.relative.name + extension)




def check_length(path: Path, duration_s: float, max_recording_s: float, verb: str = "read") -> None:
    """A recording longer than `max_recording_s` is refused (InputError naming the file)."""
    if duration_s > max_recording_s:
        raise InputError(path, f"audio is {duration_s / 3600:.1f} h long; at most "
                         f"{max_recording_s / 3600:g} h is {verb} in one call: split it", "audio")


def load_recording(path: Path, max_recording_s: float | None = None):
    """The file's audio, refused (InputError) when shorter than MIN_DURATION_S or longer than
    `max_recording_s`."""
    wave = load_audio(path)
    if wave.duration_s < MIN_DURATION_S:
        raise InputError(path, f"audio is {wave.duration_s:.3f} s long; at least {MIN_DURATION_S} s "
                         "is needed", "audio")
    if max_recording_s is not None:
        check_length(path, wave.duration_s, max_recording_s)
    return wave


def _prepare(item: CorpusItem, config: AlignConfig, max_words: int, segmented: bool):
    """-> (wave, tokens, segmented): models with a CTC head split every recording into segments at pauses
    (tasks/long.py; it is more accurate than one piece, at the same speed); others read it in one piece."""
    tokens = read_transcript(item)
    wave = load_recording(item.audio)
    if len(tokens) > max(1.0, wave.duration_s * config.max_words_per_s):
        raise InputError(item.transcript or item.audio,
                         f"transcript has {len(tokens)} words for {wave.duration_s:.2f} s of audio "
                         f"(more than {config.max_words_per_s:g} words per second)", "transcript")
    if segmented:
        check_length(item.audio, wave.duration_s, config.max_recording_s, "aligned")
        return wave, tokens, True
    if len(tokens) > max_words:
        raise InputError(item.transcript or item.audio, f"transcript has {len(tokens)} words; the model "
                         f"reads at most {max_words} words at a time: split the recording", "transcript")
    if wave.duration_s > config.max_duration_s:
        raise InputError(item.audio, f"audio is {wave.duration_s:.1f} s long; this model aligns at most "
                         f"{config.max_duration_s:.0f} s in one piece: split it into utterances", "audio")
    return wave, tokens, False


def _prepared(item: CorpusItem, config: AlignConfig, max_words: int, segmented: bool):
    """`_prepare`, or the Failure that says why the file cannot be aligned."""
    try:
        return _prepare(item, config, max_words, segmented)
    except (FrametoolError, OSError) as exc:
        return _input_failure(item, exc)


def _input_failure(item: CorpusItem, exc: Exception) -> Failure:
    """What failures.tsv records for a file whose input could not be read: the file and stage an InputError
    names, else the audio file."""
    if isinstance(exc, InputError):
        return Failure(str(exc.path), exc.stage, exc.problem)
    return Failure(str(item.audio), "input", str(exc))


def _output_exists(config: AlignConfig, item: CorpusItem) -> bool:
    """A finished output this run skips (never with --out - or --overwrite)."""
    return config.out != "-" and not config.overwrite and output_path(config, item).exists()


def _rendered(config: AlignConfig, item: CorpusItem, annotation):
    """The file's output text, or the Failure of a writer bug (which must not sink the corpus)."""
    try:
        if config.out == "-":
            return render_jsonl(annotation)
        return WRITERS[config.format][1](annotation, confidence_tier=config.confidence_tier)
    except Exception as exc:
        return Failure(str(item.audio), "write", f"output could not be rendered ({type(exc).__name__}: {exc})")


def _deliver(config: AlignConfig, item: CorpusItem, text: str, duration_s: float, out, summary) -> bool:
    """Write one file's output (atomically, or to `out` for --out -) and count it; a write error is recorded
    as a failure. -> False when the reader of --out - went away."""
    try:
        if config.out == "-":
            out.write(text)
            out.flush()
        else:
            write_atomic(output_path(config, item), text)
    except BrokenPipeError:
        return False
    except OSError as exc:
        summary.failures.append(Failure(str(output_path(config, item)), "write",
                                        f"output cannot be written ({exc.strerror or exc})"))
        return True
    summary.done += 1
    summary.audio_s += duration_s
    return True


def _flagged(annotation) -> int:
    return sum(1 for tier in annotation.tiers if tier.name == "words" for it in tier.items if it.flags)


def _write_failures(path: Path, failures: list[Failure]) -> None:
    clean = [f"{f.path}\t{f.stage}\t{f.message}".replace("\n", " ") for f in failures]
    write_atomic(path, "path\tstage\tmessage\n" + "".join(line + "\n" for line in clean))


def align_corpus(config: AlignConfig, model=None, progress=None, stdout=None,
                 items: list[CorpusItem] | None = None, finish: bool = True) -> RunSummary:
    """Align every file of `config.corpus` (or the given `items`); returns what happened.
    `progress(advance)` is optional. `finish=False`: failures.tsv is left to the caller (one shard of a
    corpus that several processes align: tasks/sharded.py merges their failures)."""
    from frametool.model import load_model

    items = discover(config.corpus, config.transcripts) if items is None else items
    if config.workers > 1:
        return _align_in_workers(config, items, progress, stdout, finish)
    summary = RunSummary(total=len(items))
    out = stdout or sys.stdout
    model = model or load_model(config.model, config.device)
    model_name = model.config.name
    make_request = Requests(tiers_for(config, model))
    max_words = model.backbone.config.max_words
    stopped = False  # the reader of --out - went away
    started = time.time()  # after model loading: wall_s is the time spent on the corpus
    pending: list[tuple[CorpusItem, object, list, bool]] = []

    def fail(path, stage, message):
        summary.failures.append(Failure(str(path), stage, message))

    def align_chunk(chunk) -> None:
        try:
            results = align_recordings(model, [make_request(w.samples, t) for _, w, t, _ in chunk], config.decode,
                                       config.batch_size)
        except Exception as exc:  # one bad batch: retry one by one so the others still land
            if len(chunk) > 1:
                for entry in chunk:
                    align_chunk([entry])
                return
            fail(chunk[0][0].audio, "model", f"alignment failed ({type(exc).__name__}: {exc})")
            return
        for (item, wave, tokens, _), times in zip(chunk, results):
            annotation = make_request.annotation(str(item.audio), wave.duration_s, model_name, tokens, times)
            summary.flagged_words += _flagged(annotation)
            text = _rendered(config, item, annotation)
            if isinstance(text, Failure):
                summary.failures.append(text)
            elif not _deliver(config, item, text, wave.duration_s, out, summary):
                nonlocal stopped
                stopped = True
                return

    def flush():
        # similar lengths share a forward pass, so little of it is spent on padding
        pending.sort(key=lambda entry: len(entry[1].samples))
        make_request.prepare([entry[2] for entry in pending])
        for start in range(0, len(pending), config.batch_size):
            if stopped:
                break
            chunk = pending[start:start + config.batch_size]
            align_chunk(chunk)
            if progress:
                progress(len(chunk))
        pending.clear()

    for index, item in enumerate(items):
        if stopped:
            break
        if _output_exists(config, item):
            summary.skipped += 1
            if progress:
                progress(1)
            continue
        if index % PRONOUNCE_AHEAD == 0:  # one espeak-ng call for the words of the next files, not one per file
            make_request.prepare_items([i for i in items[index:index + PRONOUNCE_AHEAD]
                                        if not _output_exists(config, i)])
        prepared = _prepared(item, config, max_words, has_windows(model))
        if isinstance(prepared, Failure):
            summary.failures.append(prepared)
            if progress:
                progress(1)
            continue
        wave, tokens, segmented = prepared
        if segmented:  # split in segments, on its own
            align_chunk([(item, wave, tokens, True)])
            if progress:
                progress(1)
            continue
        pending.append((item, wave, tokens, False))
        if len(pending) >= config.batch_size * LOOKAHEAD_BATCHES:
            flush()
    flush()
    summary.wall_s = time.time() - started
    if finish:
        _finish(config, summary)
    return summary


def _finish(config: AlignConfig, summary: RunSummary) -> None:
    """failures.tsv: written when something failed, removed when an earlier run's failures are fixed."""
    if config.out != "-":
        failures_path = Path(config.out) / FAILURES_FILE
        if summary.failures:
            try:
                _write_failures(failures_path, summary.failures)
                summary.failures_path = failures_path
            except OSError:
                summary.failures_path = None
        elif failures_path.exists():  # an earlier run's failures are fixed now
            failures_path.unlink()


def run_files(config, items: list[CorpusItem], work, progress=None, stdout=None) -> RunSummary:
    """The corpus loop of a task that reads one file at a time (events, diarize): finished outputs are
    skipped, `work(item)` -> (Annotation, duration_s) or raises, its output is written atomically (or to
    stdout for --out -), every failure is recorded and the run goes on, failures.tsv as for align.
    `config` needs out, overwrite, format and confidence_tier (AlignConfig's meaning)."""
    summary = RunSummary(total=len(items))
    out = stdout or sys.stdout
    started = time.time()
    for item in items:
        if _output_exists(config, item):
            summary.skipped += 1
        else:
            try:
                annotation, duration_s = work(item)
            except (FrametoolError, OSError) as exc:
                summary.failures.append(_input_failure(item, exc))
                annotation = None
            except Exception as exc:  # a model bug on one file must not sink the corpus
                summary.failures.append(Failure(str(item.audio), "model", f"{type(exc).__name__}: {exc}"))
                annotation = None
            if annotation is not None:
                text = _rendered(config, item, annotation)
                if isinstance(text, Failure):
                    summary.failures.append(text)
                elif not _deliver(config, item, text, duration_s, out, summary):
                    break
        if progress:
            progress(1)
    summary.wall_s = time.time() - started
    _finish(config, summary)
    return summary


_WORKER_MODEL = None
_WORKER_REQUESTS = None


def _start_worker(model_name: str, threads: int) -> None:
    import torch

    from frametool.model import load_model

    global _WORKER_MODEL
    torch.set_num_threads(threads)
    _WORKER_MODEL = load_model(model_name, "cpu")


def _align_file(item: CorpusItem, config: AlignConfig):
    """In a worker: one file, start to end. -> (output text, flagged words, duration_s), or the Failure a
    one-process run would record for it."""
    global _WORKER_REQUESTS
    model = _WORKER_MODEL
    if _WORKER_REQUESTS is None:
        _WORKER_REQUESTS = Requests(tiers_for(config, model))
    prepared = _prepared(item, config, model.backbone.config.max_words, has_windows(model))
    if isinstance(prepared, Failure):
        return prepared
    wave, tokens, _ = prepared
    try:
        times = align_recordings(model, [_WORKER_REQUESTS(wave.samples, tokens)], config.decode, 1)[0]
    except Exception as exc:
        return Failure(str(item.audio), "model", f"alignment failed ({type(exc).__name__}: {exc})")
    annotation = _WORKER_REQUESTS.annotation(str(item.audio), wave.duration_s, model.config.name, tokens, times)
    text = _rendered(config, item, annotation)
    return text if isinstance(text, Failure) else (text, _flagged(annotation), wave.duration_s)


def _align_in_workers(config: AlignConfig, items: list[CorpusItem], progress, stdout, finish: bool = True) -> RunSummary:
    """`config.workers` processes align whole files (each with its share of the CPU threads); this process
    skips finished outputs, writes every output in corpus order and keeps the failures, as a one-process
    run does. Outputs are a one-process run's with batch size 1, up to float rounding (other thread counts)."""
    import os
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import get_context

    from frametool.errors import UsageError
    from frametool.model import load_model

    if config.device == "cuda":
        raise UsageError("--workers above 1 runs on the CPU only: use --device cpu, or one worker on the GPU")
    tiers_for(config, load_model(config.model, "cpu"))  # a missing or broken model (or --tiers it cannot
    # write) is reported once, here
    summary = RunSummary(total=len(items))
    out = stdout or sys.stdout
    threads = max(1, (config.jobs or os.cpu_count() or 1) // config.workers)
    started = time.time()
    pending: deque = deque()

    def collect(item, future) -> bool:
        """Write one finished file; False when the reader of --out - went away."""
        try:
            result = future.result()
        except BrokenProcessPool as exc:
            result = Failure(str(item.audio), "model", f"the worker process died ({exc})")
        if progress:
            progress(1)
        if isinstance(result, Failure):
            summary.failures.append(result)
            return True
        text, flagged, duration_s = result
        summary.flagged_words += flagged
        return _deliver(config, item, text, duration_s, out, summary)

    with ProcessPoolExecutor(config.workers, mp_context=get_context("spawn"), initializer=_start_worker,
                             initargs=(config.model, threads)) as pool:
        going = True
        for item in items:
            if _output_exists(config, item):
                summary.skipped += 1
                if progress:
                    progress(1)
                continue
            pending.append((item, pool.submit(_align_file, item, config)))
            while len(pending) > 4 * config.workers and going:  # bounded look-ahead, outputs in order
                going = collect(*pending.popleft())
            if not going:
                break
        while pending and going:
            going = collect(*pending.popleft())
        for _, future in pending:
            future.cancel()
    summary.wall_s = time.time() - started
    if finish:
        _finish(config, summary)
    return summary
