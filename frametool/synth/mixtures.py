"""Multi-speaker recordings with exact speaker turns, for training and testing diarization.

`frametool synth-mixtures OUT --speech MANIFEST ... [--style count|conversation] [--speakers 1-6]` writes
`OUT/<id>.wav`, `OUT/<id>.rttm` (the turns), `OUT/<id>.uem` and `OUT/manifest.jsonl` (rows: id, audio,
duration_s, turns [[start_s, end_s, speaker], ...], speakers in order of first speech, num_speakers).

- `count` (LibriCount-style, the paper's speaker-onset task): N speakers, each starting at a random moment
  and talking for a while, so that they overlap freely; the question is who starts when.
- `conversation`: turns passed between N speakers with pauses, overlaps at turn changes and short
  back-channels.
Each speaker is one voice (a synthetic voice or a real speaker of the manifests: the `speaker` field, else
`voice`), heard at its own level; the mix may then get a far-field room, a telephone band, a hum and
coloured noise (as `synth-scenes`). With `--sounds N` about N non-speech sounds per recording (music,
alarms, sirens, knocks, chirps; `synth-scenes`' sources) are mixed in at random moments, under and between the
turns, at levels like the speakers': they are nobody's turn, so a diarizer must leave them out. A speaker's turns are its word runs with pauses shorter than `gap_s`
merged, so they follow the RTTM convention of the references. Speakers are named `speaker_1`, `speaker_2`,
... in order of first speech. Everything comes from (seed, split, index).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from frametool.bench.vad import merge_spans
from frametool.errors import UsageError
from frametool.synth.scenes import _SPLIT_SEED, SpeechSource, _background, speech_excerpt, timed_utterances, write_corpus
from frametool.synth.sounds import SAMPLE_RATE_HZ

STYLES = ("count", "conversation")


@dataclass(frozen=True)
class MixtureConfig:
    out_dir: Path
    speech: tuple[Path, ...]
    split: str = "train"
    style: str = "count"
    recordings: int = 100
    duration_s: float = 10.0
    min_speakers: int = 1
    max_speakers: int = 6
    seed: int = 0
    gap_s: float = 0.3
    jobs: int = 2
    sounds: float = 0.0  # mean number of non-speech sounds per recording (Poisson; 0 = none)


def read_speakers(manifests: tuple[Path, ...]) -> dict[str, list[SpeechSource]]:
    """Utterances with timed words of the manifests, grouped by speaker (`speaker`, else `voice`)."""
    by_speaker: dict[str, list[SpeechSource]] = defaultdict(list)
    for source, speaker, manifest in timed_utterances(manifests, lambda row: str(row.get("speaker") or row["voice"]),
                                                      "timed words and a speaker or voice"):
        by_speaker[f"{manifest.parent.name}:{speaker}"].append(source)
    return dict(by_speaker)


def _place(mix: np.ndarray, clip: np.ndarray, at_s: float, gain: float) -> None:
    """Add clip * gain to mix from `at_s` on; what falls outside the mix is cut off."""
    start = int(round(at_s * SAMPLE_RATE_HZ))
    if start < 0:
        clip, start = clip[-start:], 0
    end = min(len(mix), start + len(clip))
    if end > start:
        mix[start:end] += clip[: end - start] * gain


def make_mixture(config: MixtureConfig, index: int, speakers: dict[str, list[SpeechSource]]
                 ) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """One recording: (16 kHz samples, turns (start_s, end_s, speaker_k) sorted, speakers numbered by first
    speech)."""
    from frametool.audio.io import load_audio

    seed = (config.seed * 1_000_003 + _SPLIT_SEED[config.split] * 10_007_137 + 7_919 * index + 17) % 2 ** 32
    rng = np.random.default_rng(seed)
    names = sorted(speakers)
    count = int(rng.integers(config.min_speakers, min(config.max_speakers, len(names)) + 1))
    chosen = [names[i] for i in rng.choice(len(names), size=count, replace=False)]
    gains = {name: 0.05 * 10 ** (rng.uniform(-9, 3) / 20) for name in chosen}
    total = config.duration_s
    mix = np.zeros(int(total * SAMPLE_RATE_HZ), dtype=np.float32)
    turns: list[tuple[float, float, str]] = []

    def speak(name: str, at_s: float, max_s: float) -> float:
        """Put an excerpt of `name` at `at_s` (never before the start); -> where it ends (s)."""
        at_s = max(0.0, at_s)
        source = speakers[name][int(rng.integers(0, len(speakers[name])))]
        clip, spans = speech_excerpt(source, load_audio(source.audio).samples, rng, max(0.8, max_s), config.gap_s)
        clip = clip[: int(max(0.0, total - at_s) * SAMPLE_RATE_HZ)]
        rms = float(np.sqrt(np.mean(clip.astype(np.float64) ** 2))) if len(clip) else 0.0
        if rms > 0:
            _place(mix, clip / rms, at_s, gains[name])
        end = at_s + len(clip) / SAMPLE_RATE_HZ
        for a, b in spans:
            if at_s + a < end:
                turns.append((round(at_s + a, 4), round(min(at_s + b, end), 4), name))
        return end

    if config.style == "count":
        for name in chosen:
            start = float(rng.uniform(0.0, total * 0.7))
            speak(name, start, total - start)
    else:
        t, previous = float(rng.uniform(0.0, 1.0)), None
        while t < total - 0.5:
            name = chosen[int(rng.integers(0, count))] if count > 1 else chosen[0]
            if name == previous and count > 1:
                continue
            end = speak(name, t, float(rng.uniform(1.0, 5.0)))
            if count > 1 and rng.random() < 0.3:  # a back-channel from someone else during the turn
                other = [n for n in chosen if n != name]
                listener = other[int(rng.integers(0, len(other)))]
                speak(listener, float(rng.uniform(t, max(t, end - 0.5))), 0.8)
            previous = name
            t = end + (float(rng.uniform(-0.6, 0.0)) if rng.random() < 0.3 else float(rng.uniform(0.1, 1.5)))
    if config.sounds > 0:
        _add_sounds(mix, config, seed)
    mix = _background(mix, rng)
    first = {}
    for a, b, name in sorted(turns):
        first.setdefault(name, a)
    order = {name: f"speaker_{k + 1}" for k, name in enumerate(sorted(first, key=first.get))}
    merged = [(a, b, order[name]) for name in order
              for a, b in merge_spans([(a, b) for a, b, n in turns if n == name and b > a])]
    return mix, sorted(merged)


SOUNDS = ("music", "alarm", "siren", "knock", "chirp")


def _add_sounds(mix: np.ndarray, config: MixtureConfig, seed: int) -> None:
    """Mix about config.sounds non-speech sounds into `mix` at random moments (their own random stream, so the
    speech of a recording is the same with or without them)."""
    from frametool.synth.sounds import make_source, music_programs

    rng = np.random.default_rng((seed + 0x5EED) % 2 ** 32)
    programs = music_programs(config.split)
    for _ in range(int(rng.poisson(config.sounds))):
        made = make_source(SOUNDS[int(rng.integers(0, len(SOUNDS)))], rng, programs)
        if made is None:
            continue
        clip = made[0][: len(mix) - SAMPLE_RATE_HZ // 10]
        rms = float(np.sqrt(np.mean(clip.astype(np.float64) ** 2))) if len(clip) else 0.0
        if rms > 0:
            _place(mix, clip / rms, float(rng.uniform(0.0, (len(mix) - len(clip)) / SAMPLE_RATE_HZ)),
                   0.05 * 10 ** (rng.uniform(-9, 3) / 20))


def _write(config: MixtureConfig, index: int, speakers) -> dict:
    samples, turns = make_mixture(config, index, speakers)
    rec_id = f"{config.split}{config.style}{index:05d}"
    wav = config.out_dir / f"{rec_id}.wav"
    sf.write(str(wav), samples, SAMPLE_RATE_HZ, subtype="PCM_16")
    (config.out_dir / f"{rec_id}.rttm").write_text("".join(
        f"SPEAKER {rec_id} 1 {a:.3f} {b - a:.3f} <NA> <NA> {s} <NA> <NA>\n" for a, b, s in turns), encoding="utf-8")
    (config.out_dir / f"{rec_id}.uem").write_text(f"{rec_id} 1 0.000 {config.duration_s:.3f}\n", encoding="utf-8")
    order = sorted({s for _, _, s in turns}, key=lambda s: int(s.split("_")[1]))
    return {"id": rec_id, "audio": str(wav.resolve()), "duration_s": config.duration_s,
            "turns": [[a, b, s] for a, b, s in turns], "speakers": order, "num_speakers": len(order),
            "style": config.style, "label_origin": "synthetic"}


def generate_mixtures(config: MixtureConfig) -> Path:
    if config.split not in _SPLIT_SEED:
        raise UsageError(f"--split must be train, dev or test, not {config.split!r}")
    if config.style not in STYLES:
        raise UsageError(f"--style must be one of {', '.join(STYLES)}, not {config.style!r}")
    if not 1 <= config.min_speakers <= config.max_speakers:
        raise UsageError(f"--speakers {config.min_speakers}-{config.max_speakers}: need 1 <= low <= high")
    speakers = read_speakers(config.speech)
    if len(speakers) < config.max_speakers:
        raise UsageError(f"the speech manifests hold {len(speakers)} speakers; --speakers asks for up to "
                         f"{config.max_speakers}")
    return write_corpus(config, config.recordings, _write, speakers, config.jobs)
