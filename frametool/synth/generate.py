"""Write a synthetic MFA-style corpus: `voice/utt.wav`, `utt.lab`, `utt.TextGrid`, plus manifest.jsonl.

Each utterance is a random transcript spoken phrase by phrase (pauses of random length between
phrases), then augmented. Word times are exact: they come from the synthesiser's own events. So are phone
times: each word the engine said as its dictionary pronunciation (synth/phones.py) carries its phones,
ARPAbet with stress, in the manifest (`words[i].phones`) and in the reference TextGrid's `phones` tier;
words whose engine phones do not map one to one (and spontaneous-style utterances) carry none.
Deterministic from (seed, split, index); runs in parallel over processes.
"""
from __future__ import annotations

import json
import multiprocessing
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from frametool.annotation import Annotation, Item, Tier
from frametool.synth.augment import augment
from frametool.synth.disfluency import FILLERS, add_events, add_fillers, prolong
from frametool.synth.espeak import Espeak, TimingError
from frametool.synth.festival import available as festival_available
from frametool.synth.vocabulary import random_sentence
from frametool.synth.voices import Voice, voices
from frametool.text.normalize import tokenize
from frametool.writers.textgrid import render

SAMPLE_RATE_HZ = 16000


@dataclass(frozen=True)
class SynthConfig:
    out_dir: Path
    split: str = "train"  # train | dev | test (disjoint voices)
    hours: float = 1.0
    num_voices: int = 40
    seed: int = 0
    augment: bool = True
    min_words: int = 1
    max_words: int = 40
    jobs: int = 2
    engines: tuple[str, ...] = ("espeak-ng", "festival")
    disfluent: float = 0.0  # fraction of utterances spoken like spontaneous speech (synth/disfluency.py)


@dataclass(frozen=True)
class Utterance:
    utt_id: str
    voice: Voice
    transcript: str
    samples: np.ndarray
    words: list[tuple[str, float, float]]
    phones: list[list[tuple[str, float, float]] | None] | None = None  # per word; None: no phone times


MRPA_VOICES = ("rab_diphone", "don_diphone", "en1_mbrola")  # Festival voices with the British phone set


def phone_table(voice: Voice) -> dict[str, str]:
    from frametool.synth.phones import TABLES

    if voice.engine == "espeak-ng":
        return TABLES["espeak-ng"]
    return TABLES["mrpa" if voice.variant in MRPA_VOICES else "radio"]


def _token_phones(pieces: list[str], engine_phones, table, offset_s: float):
    """A token's phones from the engine phones of its spoken pieces, shifted by offset_s; None if a piece
    has none that match its pronunciation."""
    from frametool.synth.phones import label_word

    out = []
    for piece, heard in zip(pieces, engine_phones):
        labelled = label_word(piece, heard, table, _PRONOUNCER.word(piece))
        if labelled is None:
            return None
        out.extend((label, a + offset_s, b + offset_s) for label, a, b in labelled)
    return out


class _LazyPronouncer:
    def __init__(self) -> None:
        self._inner = None

    def word(self, word: str):
        if self._inner is None:
            from frametool.text.pronounce import Pronouncer

            self._inner = Pronouncer()
        return self._inner.word(word)


_PRONOUNCER = _LazyPronouncer()


def _speak(phrases: list[list[str]], voice: Voice, rate_factor: float, pitch: int) -> list:
    """One Synthesis per phrase, from the voice's engine."""
    if voice.engine == "festival":
        from frametool.synth.festival import synthesize_phrases

        return synthesize_phrases(phrases, voice.variant, stretch=100.0 / (voice.rate_wpm * rate_factor))
    if voice.engine == "flite":
        from frametool.synth.flite import synthesize_phrases as flite_phrases

        return flite_phrases(phrases, voice.variant, stretch=100.0 / (voice.rate_wpm * rate_factor))
    engine = Espeak.get()
    return [engine.synthesize(words, [" "] * len(words), voice.espeak_name, int(voice.rate_wpm * rate_factor),
                              pitch, voice.pitch_range) for words in phrases]


def synthesize_utterance(index: int, voice: Voice, config: SynthConfig) -> Utterance | None:
    """One utterance, or None when the synthesiser could not report every word's timing."""
    rng = random.Random(f"{config.seed}-{config.split}-{index}")
    nrng = np.random.default_rng(rng.getrandbits(63))
    n_words = min(config.max_words, max(config.min_words, int(rng.lognormvariate(2.3, 0.7))))
    transcript = random_sentence(rng, n_words)
    # spontaneous-speech effects draw from their own generators, so corpora without them stay as they were
    drng = random.Random(f"{config.seed}-{config.split}-{index}-disfluent")
    disfluent = config.disfluent > 0 and drng.random() < config.disfluent
    if disfluent:
        transcript = " ".join(add_fillers(transcript.split(), drng))
    tokens = tokenize(transcript)
    rate_factor = rng.uniform(0.85, 1.15)
    pitch = int(np.clip(voice.pitch + rng.randint(-10, 10), 0, 99))
    if disfluent:
        rate_factor = drng.uniform(0.7, 1.35)
    is_filler = [tok.text.lower() in FILLERS for tok in tokens]
    phrases: list[list] = [[]]  # token groups spoken without a break
    for t, token in enumerate(tokens):
        phrases[-1].append(token)
        if t < len(tokens) - 1 and (token.pause_after or rng.random() < 0.07 or (disfluent and (
                (is_filler[t] and drng.random() < 0.5) or (is_filler[t + 1] and drng.random() < 0.4)))):
            phrases.append([])
    pauses_s = [rng.uniform(0.1, 0.8) if rng.random() < 0.85 else rng.uniform(0.8, 2.0) for _ in phrases[1:]]
    if disfluent:
        pauses_s = [p if drng.random() < 0.7 else drng.uniform(0.8, 3.0) for p in pauses_s]
    try:
        spoken = _speak([[w for tok in phrase for w in tok.spoken] for phrase in phrases], voice, rate_factor, pitch)
    except TimingError:
        return None
    pieces: list[np.ndarray] = [np.zeros(int(rng.uniform(0.05, 1.0) * SAMPLE_RATE_HZ), np.float32)]
    words: list[tuple[str, float, float]] = []
    phones: list[list[tuple[str, float, float]] | None] = []
    table = phone_table(voice)
    phrase_final: list[bool] = []
    cursor_s = len(pieces[0]) / SAMPLE_RATE_HZ
    for p, (phrase, result) in enumerate(zip(phrases, spoken)):
        audio = soxr.resample(result.samples, result.sample_rate_hz, SAMPLE_RATE_HZ).astype(np.float32)
        k = 0
        for j, tok in enumerate(phrase):
            first, last_piece = result.word_spans_s[k], result.word_spans_s[k + len(tok.spoken) - 1]
            words.append((tok.text, cursor_s + first[0], cursor_s + last_piece[1]))
            heard = result.phone_spans_s[k:k + len(tok.spoken)] if result.phone_spans_s else []
            phones.append(_token_phones(list(tok.spoken), heard, table, cursor_s)
                          if len(heard) == len(tok.spoken) and not disfluent else None)
            phrase_final.append(j == len(phrase) - 1)
            k += len(tok.spoken)
        gap = int(pauses_s[p] * SAMPLE_RATE_HZ) if p < len(pauses_s) else 0
        pieces += [audio, np.zeros(gap, np.float32)]
        cursor_s += (len(audio) + gap) / SAMPLE_RATE_HZ
    pieces.append(np.zeros(int(rng.uniform(0.05, 1.0) * SAMPLE_RATE_HZ), np.float32))
    samples = np.concatenate(pieces)
    spans = [(a, b) for _, a, b in words]
    if disfluent:
        samples, spans = _spontaneous(samples, spans, is_filler, phrase_final, drng, nrng)
    if config.augment:  # phone times ride along with the word times (the same time warp)
        phone_spans = [(a, b) for word in phones if word for _, a, b in word]
        samples, moved = augment(samples, SAMPLE_RATE_HZ, spans + phone_spans, nrng)
        spans, moved = moved[:len(spans)], iter(moved[len(spans):])
        phones = [None if word is None else [(label, *next(moved)) for label, _, _ in word] for word in phones]
    else:
        samples = samples / (np.max(np.abs(samples)) + 1e-9) * 0.5
    words = [(w, a, b) for (w, _, _), (a, b) in zip(words, spans)]
    return Utterance(f"{config.split}{index:06d}", voice, transcript, samples, words, phones)


def _spontaneous(samples: np.ndarray, spans, is_filler: list[bool], phrase_final: list[bool],
                 drng: random.Random, nrng: np.random.Generator):
    """Draw out fillers (most), phrase-final words (some) and other words (few), never past 1.6 s, then
    put untranscribed sounds in the pauses."""
    for i in range(len(spans)):
        p = 0.6 if is_filler[i] else 0.25 if phrase_final[i] else 0.05
        if drng.random() >= p:
            continue
        factor = drng.uniform(1.5, 3.5) if is_filler[i] else drng.uniform(1.3, 2.5)
        part = 1.0 if is_filler[i] else drng.uniform(0.3, 0.6)
        length = spans[i][1] - spans[i][0]
        factor = min(factor, 1.0 + max(0.0, 1.6 - length) / max(part * length, 1e-3))
        if factor > 1.05:
            samples, spans = prolong(samples, SAMPLE_RATE_HZ, spans, i, factor, part)
    return add_events(samples, SAMPLE_RATE_HZ, spans, nrng), spans


def _write(utt: Utterance, out_dir: Path) -> dict:
    folder = out_dir / utt.voice.name
    folder.mkdir(parents=True, exist_ok=True)
    wav = folder / f"{utt.utt_id}.wav"
    sf.write(wav, utt.samples, SAMPLE_RATE_HZ, subtype="PCM_16")
    (folder / f"{utt.utt_id}.lab").write_text(utt.transcript + "\n", encoding="utf-8")
    duration_s = len(utt.samples) / SAMPLE_RATE_HZ
    tiers = [Tier("words", tuple(Item(w, a, b) for w, a, b in utt.words))]
    phones = utt.phones or [None] * len(utt.words)
    if any(phones):
        tiers.append(Tier("phones", tuple(Item(p, a, b) for word in phones if word for p, a, b in word)))
    grid = render(Annotation(str(wav), duration_s, "synthetic", "align", tuple(tiers)))
    (folder / f"{utt.utt_id}.TextGrid").write_text(grid, encoding="utf-8")
    rows = []
    for (w, a, b), word_phones in zip(utt.words, phones):
        row = {"label": w, "start_s": round(a, 5), "end_s": round(b, 5)}
        if word_phones:
            row["phones"] = [{"label": p, "start_s": round(pa, 5), "end_s": round(pb, 5)}
                             for p, pa, pb in word_phones]
        rows.append(row)
    return {"id": utt.utt_id, "audio": str(wav.relative_to(out_dir)), "transcript": utt.transcript,
            "voice": utt.voice.name, "set": utt.voice.engine, "duration_s": round(duration_s, 4),
            "words": rows}


def _work(args: tuple[int, Voice, SynthConfig]) -> dict | None:
    index, voice, config = args
    utt = synthesize_utterance(index, voice, config)
    return None if utt is None else _write(utt, config.out_dir)


def generate(config: SynthConfig, progress=None) -> Path:
    """Generate until `config.hours` of audio are written; returns the manifest path."""
    config.out_dir.mkdir(parents=True, exist_ok=True)
    from frametool.synth.flite import available as flite_available

    engines = tuple(e for e in config.engines if (e != "festival" or festival_available())
                    and (e != "flite" or flite_available()))
    voice_list = voices(config.split, config.num_voices, config.seed, engines)
    manifest = config.out_dir / "manifest.jsonl"
    target_s = config.hours * 3600
    total_s, index = 0.0, 0
    with manifest.open("w", encoding="utf-8") as out, \
            multiprocessing.get_context("spawn").Pool(config.jobs) as pool:
        while total_s < target_s:
            batch = int(np.clip((target_s - total_s) / 4.0, 1, 64 * max(1, config.jobs)))
            jobs = [(i, voice_list[i % len(voice_list)], config) for i in range(index, index + batch)]
            index += batch
            written = 0
            for row in pool.imap(_work, jobs, chunksize=8):
                if row is None:
                    continue
                written += 1
                if total_s >= target_s:  # past the target: this batch's extra files go
                    for ext in (".wav", ".lab", ".TextGrid"):
                        (config.out_dir / row["audio"]).with_suffix(ext).unlink(missing_ok=True)
                    continue
                out.write(json.dumps(row) + "\n")
                total_s += row["duration_s"]
            out.flush()
            if not written:
                raise RuntimeError(f"the synthesiser produced none of {len(jobs)} utterances")
            if progress:
                progress(total_s, target_s)
    return manifest
