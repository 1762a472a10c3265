"""Spontaneous-speech effects for synthetic speech: stretches keep pitch, word times stay exact."""
import json
import random

import numpy as np
import pytest

from frametool.synth.disfluency import FILLERS, add_events, add_fillers, prolong, stretch

SR = 16000


def _dominant_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / SR)[np.argmax(spectrum)])


@pytest.mark.parametrize("factor", [1.5, 2.5, 3.5])
def test_stretch_lengthens_without_changing_pitch(factor):
    t = np.arange(int(0.3 * SR)) / SR
    x = (0.5 * np.sin(2 * np.pi * 180.0 * t)).astype(np.float32)
    y = stretch(x, factor)
    assert len(y) == int(round(len(x) * factor))
    middle = y[len(y) // 4: 3 * len(y) // 4]
    assert abs(_dominant_hz(middle) - 180.0) < 4.0
    # overlap-add of well-aligned frames keeps the level (no cancellation between frames)
    assert np.sqrt(np.mean(middle ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


def test_prolong_moves_later_words_by_the_added_length():
    x = np.random.default_rng(0).standard_normal(SR * 2).astype(np.float32) * 0.1
    spans = [(0.1, 0.4), (0.5, 0.9), (1.2, 1.5)]
    y, moved = prolong(x, SR, spans, 1, 2.0, part=0.5)
    added = (len(y) - len(x)) / SR
    assert added == pytest.approx(0.2, abs=2 / SR)
    assert moved[0] == spans[0]
    assert moved[1] == (0.5, pytest.approx(0.9 + added))
    assert moved[2] == (pytest.approx(1.2 + added), pytest.approx(1.5 + added))
    # audio before the stretched part (the first 60 % of word 1) is untouched, and so is the audio after it
    cut = int(0.7 * SR)
    assert np.array_equal(y[:cut], x[:cut])
    assert np.array_equal(y[-int(1.0 * SR):], x[-int(1.0 * SR):])


def test_events_stay_inside_pauses_with_margin():
    rng = np.random.default_rng(1)
    x = np.zeros(SR * 6, np.float32)
    spans = [(0.5, 1.0), (2.5, 3.0), (5.0, 5.5)]
    for a, b in spans:
        x[int(a * SR): int(b * SR)] = 0.2 * np.sin(np.arange(int((b - a) * SR)) * 0.1)
    changed = np.zeros(len(x), bool)
    for _ in range(20):
        changed |= add_events(x, SR, spans, rng, rate=1.0) != x
    assert changed.any()
    margin = int(0.06 * SR)
    for a, b in spans:
        assert not changed[int(a * SR) - margin: int(b * SR) + margin].any()


def test_fillers_are_inserted_between_words_and_nothing_is_lost():
    words = "the quick brown fox jumps over the lazy dog".split()
    out = add_fillers(words, random.Random(0), rate=0.3)
    assert [w for w in out if w not in FILLERS] == words
    assert sum(w in FILLERS for w in out) >= 1
    single = add_fillers(["one"], random.Random(2), rate=0.0)  # at least one filler, even at rate 0
    assert len(single) == 2 and "one" in single and set(single) - {"one"} <= set(FILLERS)


def test_disfluent_corpus_keeps_exact_times_and_plain_corpus_unchanged(tmp_path):
    espeak = pytest.importorskip("frametool.synth.espeak")
    try:
        espeak.Espeak.get()
    except espeak.EspeakUnavailable:
        pytest.skip("espeak-ng is not installed")
    import soundfile as sf

    from frametool.synth.generate import SynthConfig, generate
    from frametool.text.normalize import tokenize

    plain = generate(SynthConfig(tmp_path / "plain", split="dev", hours=15 / 3600, num_voices=2, seed=3, jobs=1,
                                 engines=("espeak-ng",)))
    zero = generate(SynthConfig(tmp_path / "zero", split="dev", hours=15 / 3600, num_voices=2, seed=3, jobs=1,
                                engines=("espeak-ng",), disfluent=0.0))
    assert plain.read_text() == zero.read_text()
    manifest = generate(SynthConfig(tmp_path / "d", split="dev", hours=30 / 3600, num_voices=2, seed=3, jobs=1,
                                    engines=("espeak-ng",), disfluent=1.0))
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert any(w["label"].lower() in FILLERS for row in rows for w in row["words"])
    for row in rows:
        assert len(row["words"]) == len(tokenize(row["transcript"]))
        samples, sr = sf.read(str(tmp_path / "d" / row["audio"]))
        starts = np.array([w["start_s"] for w in row["words"]])
        ends = np.array([w["end_s"] for w in row["words"]])
        assert np.all(ends > starts) and np.all(starts[1:] >= ends[:-1] - 1e-3)
        assert ends[-1] <= len(samples) / sr + 1e-3
        for a, b in zip(starts, ends):  # every word still holds sound where the times say
            piece = samples[int(a * sr): int(b * sr)]
            assert np.sqrt(np.mean(piece ** 2)) > 1e-3
