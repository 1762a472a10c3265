"""Long recordings: CTC chunks find every word without drift, segments cut in pauses, one call aligns all."""
import numpy as np
import pytest
import torch

from frametool.tasks import long as long_module
from frametool.tasks.long import LongConfig, align_long, ctc_word_frames, segments
from frametool.text.normalize import tokenize

RATE = 16000


def _words(n, seed=0):
    rng = np.random.default_rng(seed)
    letters = list("abcdefghijklmnopqrstuvwxyz")
    return ["".join(rng.choice(letters, size=int(rng.integers(2, 7)))) for _ in range(n)]


def _fake_ctc(words, onsets, total_s, shift=0.02, vocab=32):
    """Per-frame CTC log-probabilities that say each word's letters, evenly over its 0.3 s, and blank
    elsewhere; every frame gives the truth 0.7 and the rest a little, so the evidence is clear but soft."""
    from frametool.text.tokenizer import VOCAB

    T = int(round(total_s / shift))
    probs = np.full((T, vocab), 0.3 / (vocab - 1))
    probs[:, 0] = 0.7
    for k, (word, g) in enumerate(zip(words, onsets)):
        frames = np.linspace(g / shift, (g + 0.3) / shift - 1, len(word)).round().astype(int)
        for ch, f in zip(word, frames):
            probs[f] = 0.3 / (vocab - 1)
            probs[f, VOCAB.index(ch)] = 0.7
        space = int(round((g - 0.05) / shift))
        if k and probs[space, 0] == 0.7:  # a space between words
            probs[space] = 0.3 / (vocab - 1)
            probs[space, VOCAB.index(" ")] = 0.7
    return np.log(probs)


def _timeline(n, pause_every, seed=0):
    gaps = [0.45 + (3.0 if pause_every and k % pause_every == 0 else 0.0) + 0.1 * (k % 3) for k in range(n)]
    return 0.5 + np.concatenate([[0.0], np.cumsum(gaps[:-1])])


@pytest.mark.parametrize("pause_every", [0, 7])
def test_ctc_chunks_find_every_word_without_drift(pause_every):
    n = 400
    words = _words(n)
    onsets = _timeline(n, pause_every)
    total_s = float(onsets[-1] + 2.0)
    frames = ctc_word_frames(_fake_ctc(words, onsets, total_s), tokenize(" ".join(words)), 0.02)
    assert np.max(np.abs(frames[:, 0] * 0.02 - onsets)) <= 0.021
    assert np.max(np.abs(frames[:, 1] * 0.02 - (onsets + 0.3))) <= 0.041
    assert np.all(np.diff(frames[:, 0]) > 0)


def test_a_stretch_without_transcript_is_skipped():
    words = _words(40, seed=1)
    onsets = np.concatenate([0.5 + 0.5 * np.arange(20), 80.0 + 0.5 * np.arange(20)])  # 60 s of nothing
    frames = ctc_word_frames(_fake_ctc(words, onsets, 95.0), tokenize(" ".join(words)), 0.02)
    assert np.max(np.abs(frames[:, 0] * 0.02 - onsets)) <= 0.021


def _check_segments(pieces, frames, config):
    assert pieces[0][2] == 0 and pieces[-1][3] == len(frames)
    pad = config.pad_s / 0.02
    for (a, b, w0, w1), nxt in zip(pieces, pieces[1:] + [None]):
        assert w1 > w0 and (nxt is None or (w1 == nxt[2] and b <= nxt[0]))  # in order, no overlap
        assert frames[w0, 0] - pad <= a <= frames[w0, 0] and frames[w1 - 1, 1] <= b <= frames[w1 - 1, 1] + pad
        assert (b - a) * 0.02 <= config.max_segment_s + 2 * config.pad_s and w1 - w0 <= config.max_segment_words


def test_segments_end_at_pauses_within_bounds():
    onsets = _timeline(300, 7)  # a 3 s pause every 7 words, 0.15-0.35 s between the others
    frames = np.stack([onsets / 0.02, (onsets + 0.3) / 0.02], axis=1).round().astype(np.int64)
    total = int(frames[-1, 1] + 100)
    config = LongConfig()
    pieces = segments(frames, total, 0.02, config)
    _check_segments(pieces, frames, config)
    for _, _, _, w1 in pieces[:-1]:
        assert frames[w1, 0] - frames[w1 - 1, 1] > 100  # every cut is in a 3 s pause
    assert len(pieces) == 300 // 7 + 1  # and every 3 s pause ends a segment (they come 4-5 s apart)


def test_without_pauses_segments_cut_at_the_widest_gap_before_the_limit():
    onsets = 0.5 + 0.5 * np.arange(200) + 0.1 * (np.arange(200) % 5 == 4)  # 0.2 s gaps, some 0.3 s
    frames = np.stack([onsets / 0.02, (onsets + 0.3) / 0.02], axis=1).round().astype(np.int64)
    pieces = segments(frames, int(frames[-1, 1] + 50), 0.02)
    _check_segments(pieces, frames, LongConfig())
    assert all(frames[w1, 0] - frames[w1 - 1, 1] == 15 for _, _, _, w1 in pieces[:-1])  # the 0.3 s gaps


def test_long_silences_stay_out_of_segments():
    """2 min of intro, a 10 min break and 10 min of outro around speech: no segment takes them in."""
    onsets = np.concatenate([120 + 0.5 * np.arange(40), 760 + 0.5 * np.arange(40)])
    frames = np.stack([onsets / 0.02, (onsets + 0.3) / 0.02], axis=1).round().astype(np.int64)
    config = LongConfig()
    pieces = segments(frames, int(1380 / 0.02), 0.02, config)
    _check_segments(pieces, frames, config)
    assert max((b - a) * 0.02 for a, b, _, _ in pieces) <= 22.0


def test_many_words_in_little_time_are_split_by_count():
    onsets = 0.5 + 0.1 * np.arange(400)  # 10 words a second without pauses
    frames = np.stack([onsets / 0.02, (onsets + 0.08) / 0.02], axis=1).round().astype(np.int64)
    config = LongConfig(max_segment_s=60.0)
    pieces = segments(frames, int(42 / 0.02), 0.02, config)
    _check_segments(pieces, frames, config)
    assert len(pieces) >= 4


def test_words_past_the_audio_stay_inside_it():
    out = np.array([[0, 10], [12, 20], [-1, -1], [-1, -1]])
    long_module._fill_missing(out, 20)
    assert out.max() <= 20 and np.all(out[:, 0] < 20) and np.all(out[:, 1] > out[:, 0])


def test_long_alignment_puts_each_segment_back_in_place(monkeypatch):
    """The whole path with stand-ins for the model: CTC evidence as above; the pointer aligner reads a
    clock (sample value = its time / 1000) and reports each of its words at the true onset."""
    from frametool.decoders.monotonic import WordTimes
    from frametool.tasks import align as align_module

    n = 300
    words = _words(n, seed=2)
    onsets = _timeline(n, 9)
    total_s = float(onsets[-1] + 2.0)
    truth = dict(enumerate(onsets))
    index = {}
    tokens = tokenize(" ".join(words))
    for k, token in enumerate(tokens):
        index[id(token)] = k

    def fake_batch(model, requests, decode="median", encoded=None, priors=None):
        out = []
        for r in requests:
            t0 = float(r.samples[0]) * 1000
            starts = np.array([truth[index[id(t)]] for t in r.tokens]) - t0
            assert np.all(starts >= 0) and np.all(starts + 0.3 <= len(r.samples) / RATE + 1e-6)
            w = len(starts)
            out.append(WordTimes(starts, starts + 0.3, np.stack([starts, starts], 1),
                                 np.stack([starts + 0.3] * 2, 1), np.ones(w)))
        return out

    monkeypatch.setattr(long_module, "encode_windows",
                        lambda model, samples, config: (_fake_ctc(words, onsets, total_s), None, False))
    monkeypatch.setattr(align_module, "align_batch", fake_batch)
    samples = (np.arange(int(total_s * RATE)) / RATE / 1000).astype(np.float64)
    model = type("M", (), {"backbone": type("B", (), {"config": type("C", (), {"ctc": True})(),
                                                      "frame_shift_s": 0.02})()})()
    times = align_long(model, samples, tokens)
    assert np.allclose(times.start_s, onsets, atol=1e-3)


def test_real_model_with_ctc_head_aligns_a_long_file():
    from frametool.model import FrameModel, ModelConfig

    torch.manual_seed(0)
    model = FrameModel(ModelConfig(backbone_config=dict(d_model=32, n_heads=2, enc_layers=1, dec_layers=1,
                                                        query_after_audio=True, ctc=True))).eval()
    samples = (np.random.default_rng(0).standard_normal(75 * RATE) * 0.1).astype(np.float32)
    tokens = tokenize(" ".join(["hello", "world", "again"] * 60))
    log_probs = long_module.ctc_log_probs(model, samples, LongConfig())
    assert log_probs.shape == (75 * RATE // 320, 32)  # one row per 20 ms frame, windows stitched
    times = align_long(model, samples, tokens)
    assert len(times.start_s) == len(tokens)
    assert np.all(times.end_s >= times.start_s) and np.all(np.diff(times.start_s) >= 0)
    assert times.start_s[0] >= 0 and times.end_s[-1] <= 75 + 0.05


def test_a_recording_that_is_one_segment_is_encoded_once_with_the_same_result(monkeypatch):
    from frametool.model import FrameModel, ModelConfig

    torch.manual_seed(0)
    model = FrameModel(ModelConfig(backbone_config=dict(d_model=32, n_heads=2, enc_layers=1, dec_layers=1,
                                                        query_after_audio=True, ctc=True))).eval()
    samples = (np.random.default_rng(1).standard_normal(5 * RATE + 123) * 0.1).astype(np.float32)
    tokens = tokenize("one two three four five six")
    calls = []
    encode = model.backbone.encode_audio
    monkeypatch.setattr(model.backbone, "encode_audio", lambda *a: calls.append(1) or encode(*a))
    whole = dict(min_segment_s=100.0, pad_s=100.0)  # one segment from the first frame to the last
    reused = align_long(model, samples, tokens, config=LongConfig(**whole))
    assert len(calls) == 1
    again = align_long(model, samples, tokens, config=LongConfig(**whole, reuse_encoder=False))
    assert len(calls) == 3
    for field in ("start_s", "end_s", "start_ci_s", "end_ci_s", "confidence"):
        assert np.allclose(getattr(reused, field), getattr(again, field), atol=1e-6)
    real_segments = long_module.segments
    monkeypatch.setattr(long_module, "segments", lambda *a: [(3,) + real_segments(*a)[0][1:]])
    cut = align_long(model, samples, tokens, config=LongConfig(**whole))
    assert len(cut.start_s) == len(tokens) and len(calls) == 5  # trimmed: encoded again, as its own audio


def test_a_position_free_model_encodes_each_window_once_and_segments_take_their_states(monkeypatch):
    """A model trained with position_jitter_s: 40 s in three 16 s windows are encoded three times in all, and
    every segment's states are the windows' states on its frames."""
    from frametool.model import FrameModel, ModelConfig
    from frametool.tasks import align as align_module

    torch.manual_seed(0)
    model = FrameModel(ModelConfig(backbone_config=dict(d_model=32, n_heads=2, enc_layers=1, dec_layers=1,
                                                        query_after_audio=True, ctc=True,
                                                        position_jitter_s=16.0))).eval()
    samples = (np.random.default_rng(2).standard_normal(40 * RATE + 77) * 0.1).astype(np.float32)
    tokens = tokenize(" ".join(["alpha", "bravo", "charlie", "delta"] * 15))
    config = LongConfig(min_segment_s=2.0, max_segment_s=6.0)
    log_probs, states, single = long_module.encode_windows(model, samples, config)
    assert states.shape == (len(log_probs), 32) and not single
    seen = []
    real_batch = align_module.align_batch

    def spy(model, requests, decode="median", encoded=None, priors=None):
        seen.append((requests, encoded))
        return real_batch(model, requests, decode, encoded, priors)

    monkeypatch.setattr(align_module, "align_batch", spy)
    calls = []
    encode = model.backbone.encode_audio
    monkeypatch.setattr(model.backbone, "encode_audio", lambda *a: calls.append(1) or encode(*a))
    times = align_long(model, samples, tokens, config=config, batch_size=3)
    assert len(calls) == 3  # the windows only: no segment is encoded again
    assert len(times.start_s) == len(tokens) and np.all(np.diff(times.start_s) >= 0)
    pieces = long_module.segments(long_module.ctc_word_frames(log_probs, tokens, 0.02, config),
                                  len(log_probs), 0.02, config)
    assert sum(len(r) for r, _ in seen) == len(pieces) > 1
    start_of = {(a, min(len(samples), b * 320) - a * 320): a for a, b, _, _ in pieces}
    checked = 0
    for requests, (enc, mask) in seen:
        for r, e, m in zip(requests, enc, mask):
            n = int(m.sum())
            assert n == (len(r.samples) // 160 - 1) // 2 + 1  # the frames its own audio would give
            a = [a for (a, length) in start_of if length == len(r.samples) and
                 np.array_equal(samples[a * 320: a * 320 + length], r.samples)][0]
            inside = min(n, len(states) - a)
            assert torch.equal(e[:inside], states[a:a + inside]) and torch.all(e[n:] == 0)
            checked += 1
    assert checked == len(pieces)
    plain = LongConfig(min_segment_s=2.0, max_segment_s=6.0, reuse_encoder=False)
    batches = len(seen)
    calls.clear()
    align_long(model, samples, tokens, config=plain, batch_size=3)
    assert len(calls) == 3 + batches  # without reuse each batch of segments is encoded again


def test_model_without_ctc_head_is_refused():
    model = type("M", (), {"backbone": type("B", (), {"config": type("C", (), {"ctc": False})()})()})()
    with pytest.raises(ValueError, match="CTC head"):
        align_long(model, np.zeros(RATE * 60), tokenize("a b"))


def test_align_command_takes_a_long_recording_in_one_call(tmp_path):
    import soundfile as sf
    from praatio import textgrid
    from typer.testing import CliRunner

    from frametool import cli
    from frametool.model import FrameModel, ModelConfig, save_model

    torch.manual_seed(0)
    model = FrameModel(ModelConfig(backbone_config=dict(d_model=32, n_heads=2, enc_layers=1, dec_layers=1,
                                                        query_after_audio=True, ctc=True)))
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


def test_bundle_without_windows_drops_the_ctc_head(tmp_path, monkeypatch):
    from frametool import model as model_module
    from frametool.tasks.long import has_windows

    source = model_module.FrameModel(model_module.ModelConfig(
        backbone_config=dict(d_model=32, n_heads=2, enc_layers=1, dec_layers=1, ctc=True)))
    model_module.save_model(source, tmp_path / "src")
    monkeypatch.setattr(model_module, "BUNDLED_DIR", tmp_path / "pkg")
    plain = model_module.load_model(str(model_module.bundle(str(tmp_path / "src"), "x", windows=False)))
    assert not has_windows(plain) and not hasattr(plain.backbone, "ctc_head")
    windowed = model_module.load_model(str(model_module.bundle(str(tmp_path / "src"), "y")))
    assert has_windows(windowed)


def test_ctc_prior_is_flat_near_the_shifted_ctc_time_and_linear_beyond():
    from frametool.tasks.long import ctc_prior

    config = LongConfig(prior_slope=30.0, prior_halfwidth_s=0.08, prior_shift_on_s=0.05, prior_shift_off_s=0.01)
    frames = np.array([[10, 20], [30, 45]])  # 0.2-0.4 s and 0.6-0.9 s on a 20 ms grid
    on, off = ctc_prior(frames, 60, 0.02, config)
    assert on.shape == off.shape == (2, 60)
    t = (np.arange(60) + 0.5) * 0.02
    expected_on = -30.0 * np.maximum(np.abs(t[None] - (frames[:, :1] * 0.02 - 0.05)) - 0.08, 0)
    expected_off = -30.0 * np.maximum(np.abs(t[None] - (frames[:, 1:] * 0.02 - 0.01)) - 0.08, 0)
    assert np.allclose(on, expected_on) and np.allclose(off, expected_off)
    assert on[0, 7] == 0 and on[0, 3] < 0 and np.isclose(on[1, 59] - on[1, 58], -30.0 * 0.02)
    assert ctc_prior(frames, 60, 0.02, LongConfig(prior_slope=0.0)) is None


def test_a_prior_moves_the_decoded_words_into_its_window():
    from frametool.model import FrameModel, ModelConfig
    from frametool.tasks.align import AlignRequest, align_batch

    torch.manual_seed(0)
    model = FrameModel(ModelConfig(backbone_config=dict(d_model=32, n_heads=2, enc_layers=1, dec_layers=1,
                                                        query_after_audio=True))).eval()
    samples = (np.random.default_rng(2).standard_normal(4 * RATE) * 0.1).astype(np.float32)
    tokens = tokenize("alpha beta")
    T = 200
    on = np.full((2, T), -1e4)
    off = np.full((2, T), -1e4)
    on[0, 50:55], off[0, 60:65], on[1, 120:125], off[1, 150:160] = 0, 0, 0, 0
    free, = align_batch(model, [AlignRequest(samples, tokens)])
    held, = align_batch(model, [AlignRequest(samples, tokens)], priors=[(on, off)])
    assert 1.0 <= held.start_s[0] <= 1.1 and 1.2 <= held.end_s[0] <= 1.3
    assert 2.4 <= held.start_s[1] <= 2.5 and 3.0 <= held.end_s[1] <= 3.2
    assert not np.allclose(free.start_s, held.start_s)
    on_short, off_short = on[:, :100].copy(), np.zeros((2, 100))
    on_short[1, 99] = 0.0  # open from the prior's last frame on: frames past its end get its last column
    short, = align_batch(model, [AlignRequest(samples, tokens)], priors=[(on_short, off_short)])
    assert 1.0 <= short.start_s[0] <= 1.1 and short.start_s[1] >= 1.98


def test_bundle_carries_another_models_phone_head_unchanged(tmp_path, monkeypatch):
    from frametool import model as model_module
    from frametool.errors import ModelError
    from frametool.heads.phones import PhoneHead

    def tiny(d_model=32):
        return model_module.FrameModel(model_module.ModelConfig(
            backbone_config=dict(d_model=d_model, n_heads=2, enc_layers=1, dec_layers=1, ctc=True)))

    torch.manual_seed(0)
    words, with_phones, wide = tiny(), tiny(), tiny(64)
    with_phones.config.phone_head = {"context": 3, "trained": {"step": 7}}
    with_phones.phone_head = PhoneHead(32, 3)
    for name, m in (("words", words), ("phones", with_phones), ("wide", wide)):
        model_module.save_model(m, tmp_path / name)
    monkeypatch.setattr(model_module, "BUNDLED_DIR", tmp_path / "pkg")
    got = model_module.load_model(str(model_module.bundle(str(tmp_path / "words"), "x",
                                                          phones_from=str(tmp_path / "phones"))))
    assert got.has_phones and got.config.phone_head == {"context": 3, "trained": {"step": 7}}
    for (k, a), (_, b) in zip(got.phone_head.state_dict().items(), with_phones.phone_head.state_dict().items()):
        assert torch.allclose(a.float(), b.half().float()), k  # the head's weights, as float16
    for k, v in got.backbone.state_dict().items():  # the word model's own backbone, not the phone model's
        assert torch.allclose(v.float(), words.backbone.state_dict()[k].half().float()), k
    with pytest.raises(ModelError, match="no phone head"):
        model_module.bundle(str(tmp_path / "words"), "y", phones_from=str(tmp_path / "words"))
    with pytest.raises(ModelError, match="width"):
        model_module.bundle(str(tmp_path / "wide"), "z", phones_from=str(tmp_path / "phones"))
