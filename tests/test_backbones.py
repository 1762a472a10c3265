"""Backbones at toy size: frametool's tiny audio LM (the Qwen2.5-Omni thinker: test_qwen_backbone.py)."""
import torch

from frametool.backbones.tiny import TinyAudioLM, TinyConfig
from frametool.heads.poisson import PointerHead
from frametool.model import make_batch
from frametool.text.normalize import tokenize
from tests.conftest import tone_speech


def tiny():
    torch.manual_seed(0)
    return TinyAudioLM(TinyConfig(d_model=32, n_heads=2, enc_layers=1, dec_layers=1, dropout=0.0)).eval()


def test_tiny_shapes_and_masks():
    model = tiny()
    batch = make_batch([tone_speech(1.0), tone_speech(0.5)], [tokenize("a b c"), tokenize("hello")])
    out = model(batch.feats, batch.feat_lens, batch.ids, batch.word_index, batch.word_last, batch.word_mask)
    assert out.frames.shape == (2, 50, 32)
    assert out.frame_mask.sum(1).tolist() == [50, 25]
    assert out.words.shape == (2, 3, 32)
    assert out.word_mask.tolist() == [[True, True, True], [True, False, False]]
    logits = PointerHead(32, 2)(out.words, out.frames)
    assert logits.shape == (2, 2, 3, 50)


def test_frames_see_the_prompt_and_prompt_does_not_see_audio():
    model = tiny()
    audio = tone_speech(0.6)
    a = make_batch([audio], [tokenize("one two")])
    b = make_batch([audio], [tokenize("one too")])
    out_a = model(a.feats, a.feat_lens, a.ids, a.word_index, a.word_last, a.word_mask)
    out_b = model(b.feats, b.feat_lens, b.ids, b.word_index, b.word_last, b.word_mask)
    assert not torch.allclose(out_a.frames, out_b.frames)  # frames conditioned on the prompt
    c = make_batch([tone_speech(0.6, seed=3) * 0.1], [tokenize("one two")])
    out_c = model(c.feats, c.feat_lens, c.ids, c.word_index, c.word_last, c.word_mask)
    assert torch.allclose(out_a.words, out_c.words, atol=1e-5)  # causal: words precede the audio


def test_padding_does_not_change_an_utterance():
    model = tiny()
    solo = make_batch([tone_speech(0.5)], [tokenize("hello there")])
    pair = make_batch([tone_speech(0.5), tone_speech(1.5, seed=2)], [tokenize("hello there"), tokenize("a b c d e")])
    o1 = model(solo.feats, solo.feat_lens, solo.ids, solo.word_index, solo.word_last, solo.word_mask)
    o2 = model(pair.feats, pair.feat_lens, pair.ids, pair.word_index, pair.word_last, pair.word_mask)
    assert torch.allclose(o1.frames[0], o2.frames[0, :25], atol=1e-4)


def test_repeated_prompt_queries_see_the_audio_and_leave_frames_unchanged():
    torch.manual_seed(0)
    plain = TinyAudioLM(TinyConfig(d_model=32, n_heads=2, enc_layers=1, dec_layers=1, dropout=0.0)).eval()
    torch.manual_seed(0)
    repeat = TinyAudioLM(TinyConfig(d_model=32, n_heads=2, enc_layers=1, dec_layers=1, dropout=0.0,
                                    query_after_audio=True)).eval()
    repeat.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        repeat.query_emb.normal_()
    a = make_batch([tone_speech(0.6)], [tokenize("one two")])
    c = make_batch([tone_speech(0.6, seed=3) * 0.1], [tokenize("one two")])
    run = lambda m, b: m(b.feats, b.feat_lens, b.ids, b.word_index, b.word_last, b.word_mask)  # noqa: E731
    assert torch.allclose(run(plain, a).frames, run(repeat, a).frames, atol=1e-5)  # causal: repeat comes after
    assert not torch.allclose(run(repeat, a).words, run(repeat, c).words)  # queries see the audio


def test_position_jitter_shifts_audio_positions_in_training_only():
    from frametool.backbones.tiny import sinusoids

    torch.manual_seed(0)
    jittered = TinyAudioLM(TinyConfig(d_model=32, n_heads=2, enc_layers=1, dec_layers=1, dropout=0.0,
                                      position_jitter_s=0.5))
    plain = TinyAudioLM(TinyConfig(d_model=32, n_heads=2, enc_layers=1, dec_layers=1, dropout=0.0))
    plain.load_state_dict(jittered.state_dict())
    batch = make_batch([tone_speech(1.0), tone_speech(1.0, seed=3)], [tokenize("a b"), tokenize("c d")])
    args = (batch.feats, batch.feat_lens)
    jittered.eval(), plain.eval()
    assert torch.equal(jittered.encode_audio(*args)[0], plain.encode_audio(*args)[0])  # inference: no jitter
    jittered.train()
    seen = []
    for seed in range(6):
        torch.manual_seed(seed)
        out = jittered.encode_audio(*args)[0]
        # each utterance's states equal the plain encoder's with positions started at some frame 0..25
        for b in range(2):
            match = [k for k in range(26) if _encode_from(plain, batch, b, k, sinusoids).sub(out[b]).abs().max() < 1e-5]
            assert len(match) == 1
            seen.append(match[0])
    assert len(set(seen)) > 3  # the start differs between utterances and steps


def _encode_from(model, batch, b, k, sinusoids):
    """The plain encoder on utterance b with its positions starting at frame k."""
    import frametool.backbones.tiny as tiny_module

    real = tiny_module.sinusoids
    tiny_module.sinusoids = lambda length, dim, device=None: sinusoids(length + k, dim, device)[k:]
    try:
        return model.encode_audio(batch.feats[b:b + 1], batch.feat_lens[b:b + 1])[0][0]
    finally:
        tiny_module.sinusoids = real
