"""The synthetic corpus generator: exact, ordered word times; deterministic from the seed."""
import json

import numpy as np
import pytest
import soundfile as sf

from frametool.synth.voices import SPLITS, voices

espeak = pytest.importorskip("frametool.synth.espeak")


@pytest.fixture(scope="module")
def engine():
    try:
        return espeak.Espeak.get()
    except espeak.EspeakUnavailable:
        pytest.skip("espeak-ng is not installed")


def test_word_spans_are_ordered_and_inside_the_audio(engine):
    words = ["supply", "and", "is", "the", "experience", "that", "the", "sky"]
    result = engine.synthesize(words, [" "] * len(words), "en-us+m3", 170, 50, 50)
    spans = np.array(result.word_spans_s)
    duration = len(result.samples) / result.sample_rate_hz
    assert spans.shape == (8, 2)
    assert np.all(spans[:, 1] > spans[:, 0])
    assert np.all(spans[1:, 0] >= spans[:-1, 1] - 1e-9)
    assert 0 <= spans[0, 0] and spans[-1, 1] <= duration
    # energy check: the audio before the first onset is (near) silent, the first word is not
    sr = result.sample_rate_hz
    lead = result.samples[: int(spans[0, 0] * sr)]
    word = result.samples[int(spans[0, 0] * sr): int(spans[0, 1] * sr)]
    assert (np.sqrt(np.mean(lead ** 2)) if lead.size else 0.0) < 0.1 * np.sqrt(np.mean(word ** 2))


def test_generated_corpus_is_deterministic_and_consistent(engine, tmp_path):
    from frametool.synth.generate import SynthConfig, generate
    from frametool.text.normalize import tokenize

    rows = []
    for name in ("a", "b"):
        manifest = generate(SynthConfig(tmp_path / name, split="dev", hours=20 / 3600, num_voices=2, seed=3, jobs=1))
        rows.append([json.loads(line) for line in manifest.read_text().splitlines()])
    assert rows[0] == rows[1]
    for row in rows[0]:
        assert len(row["words"]) == len(tokenize(row["transcript"]))
        info = sf.info(str(tmp_path / "a" / row["audio"]))
        assert info.samplerate == 16000
        assert row["words"][-1]["end_s"] <= info.duration + 1e-3
        assert (tmp_path / "a" / row["audio"]).with_suffix(".TextGrid").exists()


def test_voice_splits_are_disjoint():
    train = {(v.accent, v.variant) for v in voices("train", 200, 0)}
    test = {(v.accent, v.variant) for v in voices("test", 200, 0)}
    dev = {(v.accent, v.variant) for v in voices("dev", 200, 0)}
    assert not train & test and not train & dev and not dev & test
    assert not set(SPLITS["train"][1]) & set(SPLITS["test"][1])
    assert len(train) >= 30


def test_festival_word_times_are_ordered():
    from frametool.synth import festival

    if not festival.available():
        pytest.skip("festival is not installed")
    results = festival.synthesize_phrases([["my", "friend", "is", "here"], ["hello"]], "kal_diphone")
    assert len(results) == 2
    spans = np.array(results[0].word_spans_s)
    assert spans.shape == (4, 2) and np.all(np.diff(spans.ravel()) >= 0)
    assert spans[-1, 1] <= len(results[0].samples) / results[0].sample_rate_hz
    with pytest.raises(espeak.TimingError):
        festival.synthesize_phrases([["one", "2"]], "kal_diphone")  # festival reads "2" as "two"


def test_festival_voice_splits_are_disjoint_and_installed_only(monkeypatch):
    from frametool.synth import festival, voices as voices_module

    splits = voices_module.FESTIVAL_SPLITS
    assert not set(splits["train"]) & set(splits["test"]) and not set(splits["train"]) & set(splits["dev"])
    monkeypatch.setattr(festival, "installed_voices", lambda: frozenset({"kal_diphone", "ked_diphone"}))
    train = voices("train", 10, 0, ("espeak-ng", "festival"))
    assert {v.variant for v in train if v.engine == "festival"} == {"kal_diphone"}
    test = voices("test", 10, 0, ("espeak-ng", "festival"))
    assert {v.variant for v in test if v.engine == "festival"} == {"ked_diphone"}
    assert all(v.engine == "espeak-ng" for v in voices("dev", 10, 0, ("espeak-ng", "festival")))


def test_flite_segments_are_assigned_to_words_or_the_phrase_is_refused(monkeypatch):
    from frametool.synth import flite

    phones = {"the": ("dh", "ax"), "apple": ("ae", "p", "ax", "l"), "is": ("ih", "z")}
    monkeypatch.setattr(flite, "word_phones", lambda word, voice: phones[word])
    listing = "pau:0.100 dh:0.150 iy:0.200 ae:0.300 p:0.350 ax:0.400 l:0.500 pau:0.700 ih:0.800 z:0.900 pau:1.000"
    spans = flite.word_spans(["the", "apple", "is"], "awb", listing)  # "the" says "iy" before a vowel
    assert spans == [(0.1, 0.2), (0.2, 0.5), (0.7, 0.9)]  # pauses belong to no word
    with pytest.raises(espeak.TimingError):  # a segment too many
        flite.word_spans(["the", "apple"], "awb", "dh:0.1 ax:0.2 ae:0.3 p:0.4 ax:0.5 l:0.6 z:0.7")
    with pytest.raises(espeak.TimingError):  # other segments altogether
        flite.word_spans(["apple"], "awb", "pau:0.1 k:0.2 ae:0.3 t:0.4 s:0.5 pau:0.6")


def test_flite_word_times_are_ordered_and_inside_the_audio():
    from frametool.synth import flite

    if "awb" not in flite.installed_voices():
        pytest.skip("flite (with its awb voice) is not installed")
    results = flite.synthesize_phrases([["my", "friend", "is", "here"], ["nineteen", "eighty", "four"]], "awb", 1.2)
    assert len(results) == 2
    for result, n in zip(results, (4, 3)):
        spans = np.array(result.word_spans_s)
        assert spans.shape == (n, 2) and np.all(np.diff(spans.ravel()) >= 0) and spans[0, 0] > 0
        assert spans[-1, 1] <= len(result.samples) / result.sample_rate_hz + 1e-3


def test_flite_voices_are_opt_in_and_training_only(monkeypatch):
    from frametool.synth import flite

    monkeypatch.setattr(flite, "installed_voices", lambda: frozenset({"awb", "rms"}))
    assert voices("train", 20, 0, ("espeak-ng",)) == voices("train", 20, 0, ("espeak-ng",))
    with_flite = voices("train", 20, 0, ("espeak-ng", "flite"))
    assert len(with_flite) == 20 and {v.variant for v in with_flite if v.engine == "flite"} == {"awb", "rms"}
    without = voices("train", 20, 0, ("espeak-ng",))
    assert [v for v in with_flite if v.engine == "espeak-ng"] == without[:len(with_flite) - 3]
    assert all(v.engine != "flite" for v in voices("test", 20, 0, ("espeak-ng", "flite")))
