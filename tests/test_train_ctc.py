"""The auxiliary CTC loss: its labels, its value, and a short training run that uses it."""

import numpy as np
import pytest
import torch

from frametool.model import FrameModel, ModelConfig, make_batch
from frametool.text.normalize import tokenize
from frametool.text.tokenizer import VOCAB
from tests.conftest import noise_manifest

RATE = 16000


def _model():
    torch.manual_seed(0)
    return FrameModel(ModelConfig(backbone_config=dict(d_model=32, n_heads=2, enc_layers=1, dec_layers=1,
                                                       query_after_audio=True, ctc=True)))


def test_ctc_loss_reads_the_spoken_characters_and_spaces():
    from frametool.training.train import ctc_loss

    model = _model()
    waves = [np.random.default_rng(k).standard_normal(RATE * (k + 1)).astype(np.float32) * 0.1 for k in range(2)]
    transcripts = [tokenize("Hi, 2 cats!"), tokenize("ok")]
    batch = make_batch(waves, transcripts)
    _, out = model(batch)
    got = ctc_loss(model, out, batch)
    log_probs = model.backbone.ctc_log_probs(out.audio)
    expected = []
    for b, text in enumerate(["hi two cats", "ok"]):
        labels = torch.tensor([VOCAB.index(c) for c in text])
        T = int(out.frame_mask[b].sum())
        nll = torch.nn.functional.ctc_loss(log_probs[b, :T, None], labels[None], torch.tensor([T]),
                                           torch.tensor([len(labels)]), blank=0, reduction="sum")
        expected.append(nll / len(labels))
    assert got.item() == pytest.approx(torch.stack(expected).mean().item(), rel=1e-5)


def test_training_with_the_ctc_loss_runs_and_saves_the_head(tmp_path):
    from frametool.model import load_model
    from frametool.training.train import load_recipe, train

    noise_manifest(tmp_path, 4)
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[train]\ntrain_manifest = "{tmp_path / "manifest.jsonl"}"\n'
                      f'dev_manifest = "{tmp_path / "manifest.jsonl"}"\nout_dir = "{tmp_path / "run"}"\n'
                      'steps = 2\neval_every = 2\nsave_every = 2\nctc_weight = 0.3\ndevice = "cpu"\n'
                      '[backbone]\nd_model = 32\nn_heads = 2\nenc_layers = 1\ndec_layers = 1\nctc = true\n')
    best = train(load_recipe(recipe), log=lambda line: None)
    trained = load_model(str(best))
    assert trained.backbone.config.ctc
    torch.manual_seed(0)  # the recipe's seed: the same initial weights
    initial = FrameModel(ModelConfig(backbone_config=dict(trained.config.backbone_config)))
    # the CTC head learnt (only its loss reaches it)
    assert not torch.allclose(initial.backbone.ctc_head.weight, trained.backbone.ctc_head.weight)


def test_ctc_weight_without_a_ctc_head_is_refused(tmp_path):
    from frametool.errors import UsageError
    from frametool.training.train import load_recipe, train

    recipe = tmp_path / "r.toml"
    (tmp_path / "m.jsonl").write_text("")
    recipe.write_text(f'[train]\ntrain_manifest = "{tmp_path / "m.jsonl"}"\ndev_manifest = "{tmp_path / "m.jsonl"}"\n'
                      f'out_dir = "{tmp_path / "run"}"\nctc_weight = 0.3\n[backbone]\nd_model = 32\nn_heads = 2\n')
    with pytest.raises(UsageError, match="ctc = true"):
        train(load_recipe(recipe), log=lambda line: None)


def test_a_warm_start_keeps_the_start_models_word_decoding_unless_the_recipe_sets_one(tmp_path):
    import json

    from frametool.model import load_model
    from frametool.training.train import load_recipe, train

    noise_manifest(tmp_path, 4)
    head = (f'[train]\ntrain_manifest = "{tmp_path / "manifest.jsonl"}"\n'
            f'dev_manifest = "{tmp_path / "manifest.jsonl"}"\nsteps = 1\neval_every = 1\nsave_every = 1\n'
            'device = "cpu"\n')
    body = '[backbone]\nd_model = 32\nn_heads = 2\nenc_layers = 1\ndec_layers = 1\nctc = true\n'
    first = tmp_path / "first.toml"
    first.write_text(head + f'out_dir = "{tmp_path / "a"}"\n' + body + '[decoding]\nprior_slope = 77.0\n')
    start = train(load_recipe(first), log=lambda line: None)
    assert load_model(str(start)).config.decoding == {"prior_slope": 77.0}
    lines = []
    second = tmp_path / "second.toml"
    second.write_text(head + f'out_dir = "{tmp_path / "b"}"\ninit_from = "{start}"\n' + body)
    kept = train(load_recipe(second), log=lines.append)
    assert json.loads((kept / "config.json").read_text())["decoding"] == {"prior_slope": 77.0}
    assert any("word decoding of" in line for line in lines)
    third = tmp_path / "third.toml"
    third.write_text(head + f'out_dir = "{tmp_path / "c"}"\ninit_from = "{start}"\n' + body
                     + '[decoding]\nprior_slope = 5.0\nci_pad_s = 0.01\n')
    assert load_model(str(train(load_recipe(third), log=lambda line: None))).config.decoding == \
        {"prior_slope": 5.0, "ci_pad_s": 0.01}
    bad = tmp_path / "bad.toml"
    bad.write_text(head + f'out_dir = "{tmp_path / "d"}"\n' + body + '[decoding]\nprior_slop = 5.0\n')
    from frametool.errors import UsageError

    with pytest.raises(UsageError, match="prior_slop"):
        load_recipe(bad)


def test_select_ranks_dev_scores_by_the_chosen_tolerance_then_the_lower_mae(tmp_path):
    from frametool.errors import UsageError
    from frametool.training.train import load_recipe, selection_score

    def scores(w20, w50, mae):
        return {"onset": {"within_20ms": w20, "within_50ms": w50, "mae_ms": mae}}

    a, b, c = scores(84.0, 95.0, 14.0), scores(83.0, 96.0, 15.0), scores(83.0, 96.0, 13.5)
    assert selection_score(a) > selection_score(b)  # default: within 20 ms
    assert selection_score(b, "within_50ms") > selection_score(a, "within_50ms")
    assert selection_score(c, "within_50ms") > selection_score(b, "within_50ms")  # a tie goes to the lower MAE
    assert selection_score(c, "mae_ms") > selection_score(a, "mae_ms") > selection_score(b, "mae_ms")
    (tmp_path / "m.jsonl").write_text("")
    head = f'[train]\ntrain_manifest = "{tmp_path / "m.jsonl"}"\ndev_manifest = "{tmp_path / "m.jsonl"}"\n'
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(head + 'out_dir = "run"\nselect = "within_50ms"\n')
    assert load_recipe(good).select == "within_50ms"
    bad.write_text(head + 'out_dir = "run"\nselect = "within_30ms"\n')
    with pytest.raises(UsageError, match="select must be one of"):
        load_recipe(bad)


def test_training_picks_best_by_the_recipes_select(tmp_path):
    from frametool.training.train import load_recipe, train

    noise_manifest(tmp_path, 4)
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[train]\ntrain_manifest = "{tmp_path / "manifest.jsonl"}"\n'
                      f'dev_manifest = "{tmp_path / "manifest.jsonl"}"\nout_dir = "{tmp_path / "run"}"\n'
                      'steps = 2\neval_every = 1\nsave_every = 2\nselect = "mae_ms"\ndevice = "cpu"\n'
                      '[backbone]\nd_model = 32\nn_heads = 2\nenc_layers = 1\ndec_layers = 1\nctc = true\n')
    lines = []
    best = train(load_recipe(recipe), log=lines.append)
    assert (best / "config.json").is_file()
    assert any(line.startswith("new best mae_ms") for line in lines)


def test_word_loss_with_subframe_places_is_the_expected_cross_entropy():
    from frametool.heads.poisson import pointer_nll

    torch.manual_seed(0)
    logits = torch.randn(1, 2, 1, 6)
    frame_mask = torch.tensor([[True] * 5 + [False]])
    word_mask = torch.tensor([[True]])
    targets = torch.tensor([[[2], [4]]])
    hard = pointer_nll(logits, frame_mask, word_mask, targets, 0.02)
    # the middle of a frame (0.5) is all on that frame; so is a late place in the last valid frame (4)
    assert pointer_nll(logits, frame_mask, word_mask, targets, 0.02,
                       places=torch.tensor([[[0.5], [0.9]]])).item() == pytest.approx(hard.item(), rel=1e-6)
    got = pointer_nll(logits, frame_mask, word_mask, targets, 0.02, places=torch.tensor([[[0.8], [0.2]]]))
    lsm = torch.log_softmax(logits[0, :, 0, :5], dim=-1)
    here_on, here_off = 0.5 / 0.8, 1 - (0.5 - 0.2) / 0.8  # onset: frames 2 and 3; offset: frames 3 and 4
    expected = (-(here_on * lsm[0, 2] + (1 - here_on) * lsm[0, 3])
                - (here_off * lsm[1, 4] + (1 - here_off) * lsm[1, 3])) / 2 + np.log(0.02)  # + log frame width
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_target_places_are_where_each_boundary_lies_in_its_frame():
    from frametool.training.data import Example, batch_from_examples, target_places

    ex = Example(audio=None, tokens=tokenize("a b"), spans_s=[(0.013, 0.05), (0.071, 0.1)], duration_s=0.2)
    _, targets = batch_from_examples([ex], [np.zeros(3200, dtype=np.float32)], 0.02, lambda lens: lens // 2)
    assert targets[0].flatten().tolist() == [0, 3, 2, 4]
    places = target_places([ex], 0.02, targets)
    assert places[0].flatten().tolist() == pytest.approx([0.65, 0.55, 0.5, 1 - 1e-6], abs=1e-5)


def test_training_with_subframe_targets_runs(tmp_path):
    from frametool.training.train import load_recipe, train

    noise_manifest(tmp_path, 4)
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[train]\ntrain_manifest = "{tmp_path / "manifest.jsonl"}"\n'
                      f'dev_manifest = "{tmp_path / "manifest.jsonl"}"\nout_dir = "{tmp_path / "run"}"\n'
                      'steps = 2\neval_every = 2\nsave_every = 2\nsubframe_targets = true\ndevice = "cpu"\n'
                      '[backbone]\nd_model = 32\nn_heads = 2\nenc_layers = 1\ndec_layers = 1\nctc = true\n')
    assert (train(load_recipe(recipe), log=lambda line: None) / "config.json").is_file()
