"""The windowed aligner for long recordings: no drift, every word once, bounded windows."""
import numpy as np
import pytest
import torch

from frametool.framegrid import FrameGrid
from frametool.tasks import long as long_module
from frametool.tasks.long import LongConfig, align_long
from frametool.text.normalize import tokenize

RATE = 16000


def _fake_window(true_onsets, word_s=0.3, calls=None):
    """A stand-in for the model: the audio is a clock (sample value = its time / 1000), the words are
    'w<k>' with known onsets; a word is present when it lies wholly inside the window."""

    def window(model, chunk, words):
        t0, duration = float(chunk[0]) * 1000, len(chunk) / RATE
        if calls is not None:
            calls.append((t0, duration, len(words)))
        n_frames = int(duration / 0.02)
        grid = FrameGrid(0.02, n_frames)
        onset = np.full((len(words), n_frames), -20.0)
        offset = np.full((len(words), n_frames), -20.0)
        log_absent = np.zeros(len(words))
        for i, token in enumerate(words):
            g = true_onsets[int(token.text[1:])]
            inside = t0 <= g and g + word_s <= t0 + duration
            log_absent[i] = np.log(0.01 if inside else 0.99)
            if inside:
                onset[i, grid.frame_of(g - t0)] = 10.0
                offset[i, grid.frame_of(g + word_s - t0 - 1e-6)] = 10.0
        return onset, offset, grid, log_absent

    return window


@pytest.mark.parametrize("pause_every", [0, 7])
def test_windows_recover_every_word_without_drift(monkeypatch, pause_every):
    n = 400
    gaps = [0.45 + (3.0 if pause_every and k % pause_every == 0 else 0.0) + 0.1 * (k % 3) for k in range(n)]
    onsets = 0.5 + np.concatenate([[0.0], np.cumsum(gaps[:-1])])
    total_s = float(onsets[-1] + 2.0)
    samples = (np.arange(int(total_s * RATE)) / RATE / 1000).astype(np.float64)
    calls = []
    monkeypatch.setattr(long_module, "_window", _fake_window(onsets, calls=calls))
    model = type("M", (), {"config": type("C", (), {"absent_slot": True})()})()
    times = align_long(model, samples, tokenize(" ".join(f"w{k}" for k in range(n))), config=LongConfig())
    assert len(times.start_s) == n
    assert np.max(np.abs(times.start_s - onsets)) <= 0.02
    assert np.all(np.diff(times.start_s) > 0)
    assert all(duration <= 30.0 + 1e-6 for _, duration, _ in calls)
    assert len(calls) < 3 * total_s / 25  # windows advance; few re-reads


def test_a_stretch_without_transcript_is_skipped(monkeypatch):
    onsets = np.concatenate([0.5 + 0.5 * np.arange(20), 80.0 + 0.5 * np.arange(20)])  # 60 s of nothing
    samples = (np.arange(int(95 * RATE)) / RATE / 1000).astype(np.float64)
    monkeypatch.setattr(long_module, "_window", _fake_window(onsets))
    model = type("M", (), {"config": type("C", (), {"absent_slot": True})()})()
    times = align_long(model, samples, tokenize(" ".join(f"w{k}" for k in range(40))))
    assert np.max(np.abs(times.start_s - onsets)) <= 0.02


def test_real_model_with_absent_slot_aligns_a_long_file_in_windows():
    from frametool.model import FrameModel, ModelConfig

    torch.manual_seed(0)
    model = FrameModel(ModelConfig(backbone_config=dict(d_model=32, n_heads=2, enc_layers=1, dec_layers=1,
                                                        query_after_audio=True), absent_slot=True)).eval()
    samples = (np.random.default_rng(0).standard_normal(75 * RATE) * 0.1).astype(np.float32)
    tokens = tokenize(" ".join(["hello", "world", "again"] * 60))
    times = align_long(model, samples, tokens)
    assert len(times.start_s) == len(tokens)
    assert np.all(times.end_s >= times.start_s) and np.all(np.diff(times.start_s) >= 0)
    assert times.start_s[0] >= 0 and times.end_s[-1] <= 75 + 0.05


def test_model_without_absent_slot_is_refused():
    model = type("M", (), {"config": type("C", (), {"absent_slot": False})()})()
    with pytest.raises(ValueError, match="absent slot"):
        align_long(model, np.zeros(RATE * 60), tokenize("a b"))


def test_align_command_takes_a_long_recording_in_one_call(tmp_path):
    import soundfile as sf
    from praatio import textgrid
    from typer.testing import CliRunner

    from frametool import cli
    from frametool.model import FrameModel, ModelConfig, save_model

    torch.manual_seed(0)
    model = FrameModel(ModelConfig(backbone_config=dict(d_model=32, n_heads=2, enc_layers=1, dec_layers=1,
                                                        query_after_audio=True), absent_slot=True))
    save_model(model, tmp_path / "model")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    sf.write(corpus / "talk.wav", (np.random.default_rng(1).standard_normal(70 * RATE) * 0.1).astype(np.float32), RATE)
    words = [f"word{k % 17}" for k in range(300)]  # more words than the model reads at once
    (corpus / "talk.lab").write_text(" ".join(words) + "\n")
    result = CliRunner().invoke(cli.app, ["align", str(corpus), "--out", str(tmp_path / "out"),
                                          "--model", str(tmp_path / "model")])
    assert result.exit_code == 0, result.output
    grid = textgrid.openTextgrid(str(tmp_path / "out" / "talk.TextGrid"), includeEmptyIntervals=False)
    assert [e.label for e in grid.getTier("words").entries] == words
    assert grid.maxTimestamp == pytest.approx(70.0)


def test_bundle_without_windows_drops_the_absent_slot(tmp_path, monkeypatch):
    from frametool import model as model_module

    source = model_module.FrameModel(model_module.ModelConfig(
        backbone_config=dict(d_model=32, n_heads=2, enc_layers=1, dec_layers=1), absent_slot=True))
    model_module.save_model(source, tmp_path / "src")
    monkeypatch.setattr(model_module, "BUNDLED_DIR", tmp_path / "pkg")
    plain = model_module.load_model(str(model_module.bundle(str(tmp_path / "src"), "x", windows=False)))
    assert plain.config.absent_slot is False and plain.head.absent is None
    windowed = model_module.load_model(str(model_module.bundle(str(tmp_path / "src"), "y")))
    assert windowed.config.absent_slot is True
    assert plain.head.absent_logits(torch.zeros(1, 2, 32)) is None
