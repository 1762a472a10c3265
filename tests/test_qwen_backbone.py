"""The Qwen2.5-Omni backbone: the real transformers thinker classes at toy size (random weights, no download)."""
import numpy as np
import pytest
import torch

from frametool.errors import ModelError
from frametool.model import FrameModel, ModelConfig, load_model, save_model
from frametool.text.normalize import tokenize
from tests.conftest import tone_speech


@pytest.fixture(scope="module")
def toy_folder(tmp_path_factory):
    from frametool.backbones.qwen_shapes import make_toy_checkpoint

    torch.set_num_threads(1)
    return make_toy_checkpoint(tmp_path_factory.mktemp("qwen") / "toy")


def qwen_model(folder, **backbone) -> FrameModel:
    torch.manual_seed(0)
    return FrameModel(ModelConfig(backbone="qwen2.5-omni", backbone_config={"model_path": str(folder), **backbone},
                                  frame_shift_s=0.04))


WAVES = [tone_speech(2.0), tone_speech(1.2, seed=1)]
TEXTS = [tokenize("hello there world"), tokenize("a cat")]


def test_frame_states_are_25_per_second_and_conditioned_on_the_prompt(toy_folder):
    model = qwen_model(toy_folder).eval()
    with torch.no_grad():
        batch = model.make_batch(WAVES, TEXTS)
        logits, out = model(batch)
        other = model.make_batch(WAVES, [tokenize("hello there moon"), TEXTS[1]])
        _, out2 = model(other)
    assert out.frame_mask.sum(1).tolist() == [50, 30]  # 2.0 s and 1.2 s at 40 ms
    assert out.frame_shift_s == 0.04 and logits.shape == (2, 2, 3, 50)
    ids = batch.input_ids[0].tolist()
    audio_at = ids.index(model.backbone.audio_token_id)
    assert max(batch.word_last[0].tolist()) < audio_at  # every word's token comes before the audio
    # the prompt precedes the audio: another word changes that row's frame states, and only that row's
    assert not torch.allclose(out.frames[0], out2.frames[0])
    assert torch.allclose(out.frames[1], out2.frames[1], atol=1e-5)


def test_left_and_right_padding_give_the_same_states(toy_folder):
    backbone = qwen_model(toy_folder).eval().backbone
    with torch.no_grad():
        right = backbone(backbone.make_batch(WAVES, TEXTS, padding_side="right"))
        left_batch = backbone.make_batch(WAVES, TEXTS, padding_side="left")
        left = backbone(left_batch)
    assert left_batch.attention_mask[1, 0] == 0  # the shorter row is padded at its start
    assert torch.equal(right.frame_mask, left.frame_mask)
    m = right.frame_mask
    assert torch.allclose(right.frames[m], left.frames[m], atol=1e-4)
    assert torch.allclose(right.words[right.word_mask], left.words[left.word_mask], atol=1e-4)


def _loss(model, batch_and_targets):
    from frametool.heads.poisson import pointer_nll

    batch, targets = batch_and_targets
    logits, out = model(batch)
    return pointer_nll(logits, out.frame_mask, batch.word_mask, targets, 0.04)


def _targets(model):
    from frametool.training.data import Example, batch_from_examples

    examples = [Example(None, TEXTS[0], [(0.1, 0.5), (0.6, 1.0), (1.2, 1.8)], 2.0),
                Example(None, TEXTS[1], [(0.2, 0.5), (0.6, 1.1)], 1.2)]
    return batch_from_examples(examples, WAVES, 0.04, model.backbone.num_frames, make=model.make_batch)


def test_full_fine_tuning_lowers_the_loss_and_the_checkpoint_round_trips(toy_folder, tmp_path):
    model = qwen_model(toy_folder)
    data = _targets(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(6):
        loss = _loss(model, data)
        optimizer.zero_grad()
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    model.config.backbone_config = model.backbone.config.to_dict()
    save_model(model, tmp_path / "run")
    assert (tmp_path / "run" / "thinker" / "config.json").is_file()  # the fine-tuned thinker, HF format
    loaded = load_model(str(tmp_path / "run"))
    model.eval()
    with torch.no_grad():
        batch = model.make_batch(WAVES, TEXTS)
        assert torch.equal(model(batch)[0], loaded(batch)[0])
    # the thinker really came from the checkpoint, not from the untouched toy folder
    with torch.no_grad():
        assert not torch.equal(qwen_model(toy_folder).eval()(batch)[0], loaded(batch)[0])


def test_lora_trains_adapters_and_head_only_and_round_trips(toy_folder, tmp_path):
    model = qwen_model(toy_folder, lora={"r": 4, "alpha": 8})
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    data = _targets(model)
    for _ in range(2):
        loss = _loss(model, data)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}
    assert any("lora_B" in n for n in changed) and changed <= trainable
    model.config.backbone_config = model.backbone.config.to_dict()
    save_model(model, tmp_path / "lora")
    assert not (tmp_path / "lora" / "thinker").exists()  # base weights stay in model_path
    loaded = load_model(str(tmp_path / "lora"))
    model.eval()
    with torch.no_grad():
        batch = model.make_batch(WAVES, TEXTS)
        assert torch.equal(model(batch)[0], loaded(batch)[0])


def test_gradient_checkpointing_gives_the_same_gradients(toy_folder):
    grads, calls = [], []
    for checkpointing in (False, True):
        model = qwen_model(toy_folder, gradient_checkpointing=checkpointing).train()
        seen = []
        model.backbone.thinker.model.language_model.layers[0].mlp.register_forward_pre_hook(lambda *_: seen.append(1))
        _loss(model, _targets(model)).backward()
        grads.append(model.head.query.weight.grad.clone())
        calls.append(len(seen))
    assert calls == [1, 2]  # with checkpointing the layer runs again in the backward pass
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_token_baseline_writes_exactly_the_forced_tokens_through_generate(toy_folder):
    model = qwen_model(toy_folder).eval()
    backbone = model.backbone
    pair = backbone.make_batch(WAVES, TEXTS, padding_side="left", answer=True)
    n_timestamps = 3
    ids = backbone.generate(pair, 8 * n_timestamps, 8 * n_timestamps)
    assert ids.shape == (2, 24)
    # greedy and left-padded: the shorter row writes what it writes alone
    alone = backbone.generate(backbone.make_batch(WAVES[1:], TEXTS[1:], padding_side="left", answer=True), 24, 24)
    assert torch.equal(ids[1, :8], alone[0, :8])
    from frametool.backbones.qwen_omni import generate_answers

    answers = generate_answers(model, WAVES, TEXTS, 5)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)


def test_a_missing_or_empty_checkpoint_folder_is_named(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        qwen_model(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="empty.*no config.json"):
        qwen_model(tmp_path / "empty")


def test_a_whole_qwen_omni_checkpoint_gives_its_thinker(tmp_path):
    import json

    from frametool.backbones.qwen_shapes import make_toy_full_checkpoint

    folder = make_toy_full_checkpoint(tmp_path / "omni")
    assert json.loads((folder / "config.json").read_text())["model_type"] == "qwen2_5_omni"
    model = qwen_model(folder).eval()
    from safetensors.torch import load_file

    saved = load_file(str(folder / "model.safetensors"))
    key = "thinker.model.layers.0.mlp.up_proj.weight"  # the releases' layout of the weights
    assert torch.equal(model.backbone.thinker.model.language_model.layers[0].mlp.up_proj.weight, saved[key])
    with torch.no_grad():
        assert model(model.make_batch(WAVES, TEXTS))[1].frame_mask.sum(1).tolist() == [50, 30]
