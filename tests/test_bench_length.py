"""`frametool bench length`: clips by time range, answer parsing, scoring, and one tiny end-to-end run."""
import json

import numpy as np
import pytest
import soundfile as sf

from frametool.bench.length import LengthConfig, clips_within, cut_clip, parse_answer, run_length, score, table
from frametool.text.normalize import tokenize
from frametool.training.data import Example

RATE = 16000


def _example(tmp_path, spans, duration_s=10.0, name="u"):
    words = " ".join(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"][: len(spans)])
    path = tmp_path / f"{name}.wav"
    sf.write(path, (np.random.default_rng(0).standard_normal(int(duration_s * RATE)) * 0.1).astype(np.float32), RATE)
    return Example(path, tokenize(words), spans, duration_s)


def test_clips_keep_only_words_inside_their_range(tmp_path):
    spans = [(0.5, 1.0), (1.2, 2.0), (3.5, 4.4), (5.0, 5.5), (7.0, 7.9), (8.5, 9.0)]
    e = _example(tmp_path, spans)
    wave = np.zeros(10 * RATE, np.float32)
    (clip,) = clips_within([e], [wave], 4.0)
    assert [t.text for t in clip.tokens] == ["alpha", "bravo"]  # "charlie" ends after 4 s
    assert len(clip.wave) == int(round((2.0 + 3.5) / 2 * RATE))  # cut in the pause after "bravo"
    (test,) = clips_within([e], [wave], 8.0, 4.0)
    assert [t.text for t in test.tokens] == ["alpha", "bravo", "charlie", "delta", "echo"]
    assert test.scored.tolist() == [False, False, False, True, True]
    assert np.allclose(test.onsets_s, [0.5, 1.2, 3.5, 5.0, 7.0])


def test_a_cut_through_a_word_is_refused():
    tokens = tokenize("one two")
    assert cut_clip(np.zeros(3 * RATE), tokens, [(0.1, 0.5), (0.9, 1.6)], 0.0, 1.2) is None
    clip = cut_clip(np.zeros(3 * RATE), tokens, [(0.1, 0.5), (0.9, 1.6)], 0.0, 0.7)
    assert [t.text for t in clip.tokens] == ["one"] and len(clip.wave) == int(0.7 * RATE)


def test_parse_answer_reads_numbers_in_order_and_marks_missing():
    assert np.allclose(parse_answer("[0.21, 0.49, 12.00]", 3), [0.21, 0.49, 12.0])
    got = parse_answer("[0.21, 0.4", 3)
    assert np.allclose(got[:2], [0.21, 0.4]) and np.isnan(got[2])
    assert np.allclose(parse_answer("[1.5, 2.5, 3.5, 4.5]", 2), [1.5, 2.5])


def test_score_exact_values():
    got = score(np.array([1.00, 2.03, np.nan, 4.5]), np.array([1.01, 2.0, 3.0, 4.0]))
    assert got == {"words": 4, "within_20ms": 25.0, "within_40ms": 50.0, "mae_ms": 180.0, "missing": 1}


def test_tiny_run_trains_and_scores_every_head(tmp_path):
    rows = []
    for k in range(4):
        spans = [(0.3 + 1.3 * i, 0.3 + 1.3 * i + 0.8) for i in range(6)]
        e = _example(tmp_path, spans, 8.5, name=f"u{k}")
        rows.append({"audio": e.audio.name, "transcript": " ".join(t.text for t in e.tokens), "duration_s": 8.5,
                     "words": [{"label": t.text, "start_s": a, "end_s": b} for t, (a, b) in zip(e.tokens, spans)]})
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = LengthConfig(minutes_per_model=0.02, batch_size=2, d_model=32, n_heads=2, enc_layers=1, dec_layers=1,
                          init="", threads=1)
    report = run_length(tmp_path / "manifest.jsonl", tmp_path / "manifest.jsonl", config)
    assert [(r["head"], r["test_range"], r["matched"]) for r in report["rows"]] == [
        (h, rng, rng == "0-4s") for h in ("poisson", "binary", "tokens") for rng in ("0-4s", "4-8s")]
    for r in report["rows"]:
        assert r["words"] == 4 * (3 if r["test_range"] == "0-4s" else 3)
        assert 0 <= r["within_20ms"] <= r["within_40ms"] <= 100
    assert "tokens" in table(report)


@pytest.mark.parametrize("args, message", [(["--heads", "tokens,beam"], "--heads"), (["--minutes", "0"], "positive")])
def test_cli_rejects_bad_options(tmp_path, args, message):
    from typer.testing import CliRunner

    from frametool import cli

    result = CliRunner().invoke(cli.app, ["bench", "length", str(tmp_path), str(tmp_path), *args])
    assert result.exit_code == 2 and message in result.output


def test_a_training_corpus_without_words_in_range_is_refused(tmp_path):
    from frametool.errors import UsageError

    e = _example(tmp_path, [(5.0, 5.5)])
    row = {"audio": e.audio.name, "transcript": "alpha", "duration_s": 10.0,
           "words": [{"label": "alpha", "start_s": 5.0, "end_s": 5.5}]}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(UsageError, match="no utterance"):
        run_length(tmp_path / "manifest.jsonl", tmp_path / "manifest.jsonl", LengthConfig(init=""))
