"""The token-generation baseline: cached steps equal one causal pass; the speed report's shape."""
import torch

from frametool.backbones.generate import (START, AnswerHead, answer_inputs, answer_text, cached_states,
                                          decode_answer, encode_answer, full_forward_states, generate,
                                          teacher_forced_logits)
from frametool.backbones.tiny import TinyAudioLM, TinyConfig


def _toy():
    torch.manual_seed(0)
    backbone = TinyAudioLM(TinyConfig(d_model=32, n_heads=2, enc_layers=1, dec_layers=2)).eval()
    return backbone, AnswerHead(32).eval()


def test_answer_text_round_trip():
    text = answer_text([0.214, 0.49, 12.0])
    assert text == "[0.21, 0.49, 12.00]"
    assert decode_answer(encode_answer(text)) == text


def test_cached_generation_steps_equal_one_causal_pass():
    backbone, answer = _toy()
    feats, lens = torch.randn(2, 90, 80), torch.tensor([90, 90])
    ids, word_index = torch.randint(5, 30, (2, 10)), torch.arange(10).repeat(2, 1)
    answer_ids = torch.tensor([encode_answer(answer_text([0.1, 0.3]))] * 2)
    with torch.no_grad():
        full = full_forward_states(backbone, answer, feats, lens, ids, word_index, answer_ids)
        cached = cached_states(backbone, answer, feats, lens, ids, word_index, answer_ids)
    assert full.shape == cached.shape
    assert torch.allclose(full, cached, atol=1e-5)
    out = generate(backbone, answer, feats, lens, ids, word_index, steps=7)
    assert out.shape == (2, 7)
    # greedy generation picks, at each step, the argmax of the states a causal pass gives the start symbol
    # followed by its own output
    with torch.no_grad():
        inputs = torch.cat([torch.full((2, 1), START), out[:, :-1]], dim=1)
        states = full_forward_states(backbone, answer, feats, lens, ids, word_index, inputs)
        first_answer_state = ids.shape[1] + int(backbone.num_frames(lens)[0])
        assert torch.equal(answer.out(states[:, first_answer_state:]).argmax(-1), out)
        assert torch.allclose(teacher_forced_logits(backbone, answer, feats, lens, ids, word_index, inputs),
                              answer.out(states[:, first_answer_state:]), atol=1e-5)


def test_teacher_forcing_ignores_padding():
    backbone, answer = _toy()
    torch.manual_seed(1)
    feats = torch.randn(2, 90, 80)
    lens = torch.tensor([90, 60])
    feats[1, 60:] = 0  # padded audio is zeros, as make_batch pads it
    ids = torch.randint(5, 30, (2, 10))
    ids[1, 7:] = 0  # PAD
    word_index = torch.arange(10).repeat(2, 1)
    inputs, targets = answer_inputs(["[0.10, 0.30]", "[0.2]"])
    assert targets[1, 5] == encode_answer("[0.2]")[-1] and (targets[1, 6:] == -100).all()
    with torch.no_grad():
        both = teacher_forced_logits(backbone, answer, feats, lens, ids, word_index, inputs)
        alone = teacher_forced_logits(backbone, answer, feats[1:, :60], lens[1:], ids[1:, :7], word_index[1:, :7],
                                      inputs[1:, :6])
    assert torch.allclose(both[1:, :6], alone, atol=1e-5)


def test_speed_report_rows(tmp_path):
    from frametool.bench.speed import WORD_S, run_speed, table
    from frametool.model import FrameModel, ModelConfig, save_model

    save_model(FrameModel(ModelConfig(backbone_config=dict(d_model=32, n_heads=2, enc_layers=1, dec_layers=1,
                                                           query_after_audio=True))), tmp_path / "m")
    report = run_speed(str(tmp_path / "m"), repeats=1, batch_sizes=(1, 2), buckets=((1, 5), (26, 40)))
    rows = report["rows"]
    assert [(r["bucket"], r["batch_size"]) for r in rows] == [("1-5", 1), ("1-5", 2), ("26+", 1), ("26+", 2)]
    for r in rows:
        assert r["frame_s"] > 0 and r["token_s"] > 0
        assert abs(r["speedup"] - r["token_s"] / r["frame_s"]) < 1e-9 * r["speedup"]
        assert r["answer_chars"] == len(answer_text([0.5 + WORD_S * i for i in range(r["timestamps"])])) + 1
    assert "26+" in table(report)
