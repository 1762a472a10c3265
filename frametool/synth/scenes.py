"""Synthetic sound scenes with exact event labels, for training and testing general event models.

`frametool synth-scenes OUT --speech MANIFEST ...` writes `OUT/<id>.wav`, `OUT/<id>.tsv` (onset, offset,
label: the layout `frametool import --format events-tsv` and `frametool bench events` read) and
`OUT/manifest.jsonl` (event-manifest rows, ready for an events recipe).

A scene is `duration_s` of silence into which events are placed at random times:
- `speech`: an excerpt of an utterance from a word-timed corpus manifest (synthetic voices with exact word
  times, or real speech with aligner word times), cut at word boundaries; its words are grouped into speech
  events wherever the pause between two words is shorter than `speech_gap_s`;
- `music` and the generated sounds of `synth/sounds.py` (alarm, siren, knock, chirp), each event the
  audible span of its isolated clip (above 25 dB below its peak).
Events of one label never overlap (`min_gap_s` apart); events of different labels may. Each source gets a
random level, then the whole mix may get a synthetic room (reverberation), a telephone band, a mains hum
and coloured background noise at a random SNR (6-35 dB below the quietest event, so every labelled event
can be heard), and a random final level. Labels are those of the dry
sources, as placed. Everything comes from (seed, split, scene index), so a seed reproduces a corpus;
different splits draw from different seeds, test scenes hear music instruments training never hears, and
the speech manifests given decide which voices and speakers each split hears.
"""
from __future__ import annotations

import json
import multiprocessing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from frametool.errors import InputError, UsageError
from frametool.synth import augment
from frametool.synth.sounds import GENERATED, SAMPLE_RATE_HZ, make_source, music_programs

LABELS = ("speech", "music") + GENERATED
_SPLIT_SEED = {"train": 0, "dev": 1, "test": 2}


# how often each label is drawn for an event, relative to the others; labels not named here weigh 1
DEFAULT_WEIGHTS = {"speech": 3.0, "music": 2.5}


@dataclass(frozen=True)
class SceneConfig:
    out_dir: Path
    speech: tuple[Path, ...]  # word-timed corpus manifests (frametool synth / frametool import)
    split: str = "train"
    scenes: int = 100
    duration_s: float = 15.0
    seed: int = 0
    labels: tuple[str, ...] = LABELS
    mean_events: float = 3.0  # events per scene: 1 + Poisson(mean_events - 1), at most max_events
    max_events: int = 8
    empty_p: float = 0.05  # scenes with no event at all (background only)
    speech_gap_s: float = 0.3  # a pause this long or longer between words ends a speech event
    min_gap_s: float = 0.3  # between two events of the same label
    max_speech_s: float = 8.0
    speech_level_db: tuple[float, float] = (-6.0, 4.0)  # each source's active level, dB re a common reference
    level_db: tuple[float, float] = (-8.0, 2.0)  # the other labels
    snr_db: tuple[float, float] = (6.0, 35.0)  # background noise below the quietest event's active level
    jobs: int = 2
    weights: dict = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))  # how often each label is drawn


@dataclass(frozen=True)
class SpeechSource:
    audio: Path
    words: tuple[tuple[float, float], ...]  # (start_s, end_s) of every word, in order


def timed_utterances(manifests: tuple[Path, ...], key=None, needs: str = "timed words"):
    """(SpeechSource, key(row), manifest) for every utterance with timed words of the corpus manifests (audio paths
    relative to each manifest's folder, as `frametool synth` and `frametool import` write them); a row
    without what `key` reads is an InputError naming the manifest and line."""
    out = []
    for manifest in manifests:
        if not Path(manifest).is_file():
            raise InputError(manifest, "speech manifest not found", "manifest")
        for n, line in enumerate(Path(manifest).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                words = tuple((float(w["start_s"]), float(w["end_s"])) for w in row["words"])
                audio = Path(row["audio"])
                value = key(row) if key else None
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(manifest, f"line {n}: not a corpus manifest row with {needs} ({exc})",
                                 "manifest") from None
            if words:
                out.append((SpeechSource(audio if audio.is_absolute() else Path(manifest).parent / audio, words),
                            value, Path(manifest)))
    if not out:
        raise UsageError(f"no utterance with timed words in {', '.join(map(str, manifests))}")
    return out


def read_speech_sources(manifests: tuple[Path, ...]) -> list[SpeechSource]:
    """Every utterance with timed words of the given corpus manifests."""
    return [source for source, _, _ in timed_utterances(manifests)]


def speech_excerpt(source: SpeechSource, samples: np.ndarray, rng: np.random.Generator, max_s: float,
                   gap_s: float) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """A run of consecutive words no longer than `max_s` (one word at least), cut with up to 100 ms of the
    pauses on either side, and its speech events relative to the cut."""
    words = source.words
    first = int(rng.integers(0, len(words)))
    target = rng.uniform(0.8, max_s)
    last = first
    while last + 1 < len(words) and words[last + 1][1] - words[first][0] <= target:
        last += 1
    before = words[first][0] - (words[first - 1][1] if first > 0 else 0.0)
    after = (words[last + 1][0] if last + 1 < len(words) else len(samples) / SAMPLE_RATE_HZ) - words[last][1]
    start = max(0.0, words[first][0] - min(0.1, max(0.0, before)))
    end = words[last][1] + min(0.1, max(0.0, after))
    clip = samples[int(start * SAMPLE_RATE_HZ):int(end * SAMPLE_RATE_HZ)].astype(np.float32)
    events: list[list[float]] = []
    for a, b in words[first:last + 1]:
        if events and a - events[-1][1] < gap_s:
            events[-1][1] = max(events[-1][1], b)
        else:
            events.append([a, b])
    return clip, [(a - start, min(b, end) - start) for a, b in events]


def _active_rms(x: np.ndarray) -> float:
    if x.size == 0:
        return 0.0  # e.g. a speech excerpt whose words lie past the end of its audio
    loud = x[np.abs(x) > 1e-4 * (np.abs(x).max() + 1e-12)]
    return float(np.sqrt(np.mean(loud.astype(np.float64) ** 2))) if loud.size else 0.0


def make_scene(config: SceneConfig, index: int, sources: list[SpeechSource]
               ) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """One scene: (16 kHz samples, sorted events (onset_s, offset_s, label))."""
    seed = (config.seed * 1_000_003 + _SPLIT_SEED[config.split] * 10_007_137 + index) % 2 ** 32
    rng = np.random.default_rng(seed)
    sr = SAMPLE_RATE_HZ
    n = int(config.duration_s * sr)
    mix = np.zeros(n, dtype=np.float32)
    labels = list(config.labels)
    weights = np.array([config.weights.get(label, 1.0) for label in labels])
    count = 0 if rng.random() < config.empty_p else min(config.max_events, 1 + int(rng.poisson(config.mean_events - 1)))
    events: list[tuple[float, float, str]] = []
    quietest = np.inf  # the lowest active level of any event placed: the noise stays below it
    programs = music_programs(config.split)
    for _ in range(count):
        label = labels[int(rng.choice(len(labels), p=weights / weights.sum()))]
        if label == "speech":
            source = sources[int(rng.integers(0, len(sources)))]
            from frametool.audio.io import load_audio

            clip, spans = speech_excerpt(source, load_audio(source.audio).samples, rng, config.max_speech_s,
                                         config.speech_gap_s)
        else:
            made = make_source(label, rng, programs)
            if made is None:
                continue
            clip, (first_s, end_s) = made
            clip = clip[: n - sr // 10]
            end_s = min(end_s, len(clip) / sr)
            if end_s - first_s < 0.02:
                continue
            spans = [(first_s, end_s)]
        if len(clip) >= n:
            continue
        busy = [(a, b) for a, b, lab in events if lab == label]
        for _attempt in range(10):
            at = float(rng.uniform(0.0, (n - len(clip)) / sr))
            placed = [(at + a, at + b) for a, b in spans]
            if all(b + config.min_gap_s <= pa or pb + config.min_gap_s <= a for a, b in busy for pa, pb in placed):
                break
        else:
            continue
        rms = _active_rms(clip)
        if rms <= 0:
            continue
        level_db = rng.uniform(*config.speech_level_db) if label == "speech" else rng.uniform(*config.level_db)
        start = int(round(at * sr))
        level = 0.05 * 10 ** (level_db / 20)
        mix[start:start + len(clip)] += clip / rms * level
        quietest = min(quietest, level)
        events.extend((round(a, 5), round(b, 5), label) for a, b in placed)
    mix = _background(mix, rng, quietest if events else None, config.snr_db)
    return mix, sorted(events)


def _background(mix: np.ndarray, rng: np.random.Generator, quietest: float | None = None,
                snr_db: tuple[float, float] = (0.0, 35.0)) -> np.ndarray:
    """Room, channel, hum and noise on the whole mix, then a random peak level. Hum and noise sit `snr_db`
    below `quietest` (scenes: the active level of the quietest event, so every labelled event stays
    audible) or, without it, below the active level of the whole mix."""
    sr = SAMPLE_RATE_HZ
    if rng.random() < 0.4:
        mix = augment.reverb(mix, sr, float(rng.uniform(0.2, 0.9)), rng) if np.any(mix) else mix
    if rng.random() < 0.1:
        mix = augment.band_limit(mix, sr, 300.0, 3400.0)
    level = quietest if quietest is not None else (_active_rms(mix) or 0.05)
    if rng.random() < 0.15:
        t = np.arange(len(mix)) / sr
        mains = 50.0 if rng.random() < 0.5 else 60.0
        hum = sum(np.sin(2 * np.pi * k * mains * t) / k for k in range(1, 6))
        mix = mix + (hum * level * 10 ** (rng.uniform(-35, -15) / 20)).astype(np.float32)
    if rng.random() < 0.85:
        noise = augment.coloured_noise(len(mix), float(rng.uniform(0.0, 2.0)), rng)
        mix = mix + noise * level * 10 ** (-rng.uniform(*snr_db) / 20)
    peak = float(np.max(np.abs(mix))) or 1.0
    return (mix / peak * rng.uniform(0.1, 0.95)).astype(np.float32)


def _write_scene(config: SceneConfig, index: int, sources: list[SpeechSource]) -> dict:
    samples, events = make_scene(config, index, sources)
    scene_id = f"{config.split}{index:05d}"
    wav = config.out_dir / f"{scene_id}.wav"
    sf.write(str(wav), samples, SAMPLE_RATE_HZ, subtype="PCM_16")
    (config.out_dir / f"{scene_id}.tsv").write_text(
        "".join(f"{a:.5f}\t{b:.5f}\t{label}\n" for a, b, label in events), encoding="utf-8")
    return {"id": scene_id, "audio": str(wav.resolve()), "duration_s": config.duration_s,
            "events": [[a, b, label] for a, b, label in events], "regions": None, "label_origin": "synthetic"}


_SHARED: dict = {}


def _init_worker(write, shared) -> None:
    _SHARED["write"], _SHARED["data"] = write, shared


def _worker(item) -> dict:
    config, index = item
    return _SHARED["write"](config, index, _SHARED["data"])


def write_corpus(config, count: int, write, shared, jobs: int) -> Path:
    """`write(config, index, shared)` for every index in parallel processes (`shared` is handed to each
    process once), then the rows it returns as `config.out_dir/manifest.jsonl`, written atomically."""
    config.out_dir.mkdir(parents=True, exist_ok=True)
    work = [(config, i) for i in range(count)]
    if jobs > 1:
        with multiprocessing.get_context("fork").Pool(jobs, _init_worker, (write, shared)) as pool:
            rows = pool.map(_worker, work, chunksize=4)
    else:
        _init_worker(write, shared)
        rows = [_worker(item) for item in work]
    manifest = config.out_dir / "manifest.jsonl"
    tmp = manifest.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    tmp.replace(manifest)
    return manifest


def generate_scenes(config: SceneConfig) -> Path:
    """Write the scenes and OUT/manifest.jsonl; returns the manifest's path."""
    if config.split not in _SPLIT_SEED:
        raise UsageError(f"--split must be train, dev or test, not {config.split!r}")
    unknown = [label for label in config.labels if label not in LABELS]
    if unknown:
        raise UsageError(f"unknown scene labels {unknown}; known: {', '.join(LABELS)}")
    sources = read_speech_sources(config.speech) if "speech" in config.labels else []
    return write_corpus(config, config.scenes, _write_scene, sources, config.jobs)
